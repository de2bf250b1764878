"""What ``ftapi evals compare`` prints: the pass rates side by side with their change and the
disagreeing items as tables, or the same as one JSON document (``--json``)."""

from __future__ import annotations

from typing import Any

import typer

from cli.client.eval_compare import (
    NO_RATE,
    Disagreement,
    Disagreements,
    Rate,
    criterion_names,
    criterion_rates,
    delta,
    delta_text,
    item_side,
    overall_rate,
    sample_text,
)
from cli.client.eval_watch import TERMINAL_STATUSES
from cli.client.tables import print_table

OUTPUT_CHARS = 40  # of a sample's output in the table (--json has all of it)


def _rows(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Rate, Rate]]:
    """(criterion, rate in A, rate in B) for each criterion, then overall."""
    rates_a, rates_b = criterion_rates(a), criterion_rates(b)
    rows = [
        (name, rates_a.get(name, NO_RATE), rates_b.get(name, NO_RATE))
        for name in criterion_names(a, b)
    ]
    return [*rows, ("overall", overall_rate(a), overall_rate(b))]


def _run_json(run: dict[str, Any]) -> dict[str, Any]:
    return {key: run.get(key) for key in ("id", "name", "model", "status")}


def comparison_json(
    eval_id: str,
    a: dict[str, Any],
    b: dict[str, Any],
    found: Disagreements,
    shown: list[Disagreement],
) -> dict[str, Any]:
    """The comparison as ``--json`` prints it; ``shown`` are the items listed."""
    rows = _rows(a, b)
    rate_rows = [
        {"name": name, "a": ra.as_json(), "b": rb.as_json(), "delta": delta(ra, rb)}
        for name, ra, rb in rows
    ]
    return {
        "eval_id": eval_id,
        "run_a": _run_json(a),
        "run_b": _run_json(b),
        "criteria": rate_rows[:-1],
        "overall": rate_rows[-1],
        "disagreements": {
            "count": len(found.items),
            "compared": found.compared,
            "passed_only_in_a": found.passed_only_in_a,
            "passed_only_in_b": found.passed_only_in_b,
            "items": [
                {
                    "datasource_item_id": d.item_id,
                    "datasource_item": d.a.get("datasource_item"),
                    "a": item_side(d.a),
                    "b": item_side(d.b),
                }
                for d in shown
            ],
        },
    }


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= OUTPUT_CHARS else flat[: OUTPUT_CHARS - 1] + "…"


def print_comparison(
    a: dict[str, Any], b: dict[str, Any], found: Disagreements, shown: list[Disagreement]
) -> None:
    """The comparison as tables; ``shown`` are the items listed."""
    typer.echo(f"A: {a['id']}  {a.get('name') or ''}  {a.get('model') or '-'}  {a['status']}")
    typer.echo(f"B: {b['id']}  {b.get('name') or ''}  {b.get('model') or '-'}  {b['status']}")
    typer.echo()
    print_table(
        ["criterion", "run a", "run b", "delta"],
        [[name, ra.text(), rb.text(), delta_text(delta(ra, rb))] for name, ra, rb in _rows(a, b)],
    )
    typer.echo()
    typer.echo(
        f"{len(found.items)} of {found.compared} items disagree: "
        f"{found.passed_only_in_a} passed only in A, {found.passed_only_in_b} only in B"
    )
    for label, run in (("A", a), ("B", b)):
        if run["status"] not in TERMINAL_STATUSES:
            typer.echo(f"{label} is still {run['status']}: compared on the items graded so far")
    if not shown:
        return
    typer.echo()
    print_table(
        ["item", "a", "b", "a output", "b output"],
        [
            [d.item_id, d.a["status"], d.b["status"], _short(sample_text(d.a)),
             _short(sample_text(d.b))]
            for d in shown
        ],
    )  # fmt: skip
    if len(shown) < len(found.items):
        typer.echo(f"... and {len(found.items) - len(shown)} more (--limit 0 shows all)")
