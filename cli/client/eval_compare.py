"""``ftapi evals compare``: two runs of one eval side by side.

Pass rates per testing criterion (from each run's ``per_testing_criteria_results``) and overall
(``result_counts``), the change from run A to run B, and the items on which the runs disagree:
graded in both, passed in one and failed (or errored) in the other, matched by
``datasource_item_id`` over every page of both runs' output items.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cli.client.connection import ApiClient
from cli.client.eval_watch import run_path

ITEMS_PAGE_SIZE = 100


@dataclass(frozen=True)
class Rate:
    """``passed`` of ``graded``."""

    passed: int
    graded: int

    @property
    def value(self) -> float | None:
        """The fraction passed, or None while nothing is graded."""
        return None if self.graded == 0 else self.passed / self.graded

    def as_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "graded": self.graded, "pass_rate": self.value}

    def text(self) -> str:
        """``75.0% (15/20)``."""
        value = self.value
        return "-" if value is None else f"{100 * value:.1f}% ({self.passed}/{self.graded})"


NO_RATE = Rate(0, 0)


def criterion_rates(run: dict[str, Any]) -> dict[str, Rate]:
    """The run's pass rate per testing criterion, by the name the run reports."""
    return {
        result["testing_criteria"]: Rate(result["passed"], result["passed"] + result["failed"])
        for result in run.get("per_testing_criteria_results") or []
    }


def overall_rate(run: dict[str, Any]) -> Rate:
    """Items that passed every criterion, of the items graded."""
    counts = run.get("result_counts") or {}
    return Rate(int(counts.get("passed") or 0), int(counts.get("total") or 0))


def criterion_names(*runs: dict[str, Any]) -> list[str]:
    """The criteria of ``runs`` in the order they first appear."""
    names: list[str] = []
    for run in runs:
        for result in run.get("per_testing_criteria_results") or []:
            if result["testing_criteria"] not in names:
                names.append(result["testing_criteria"])
    return names


def delta(a: Rate, b: Rate) -> float | None:
    """B's pass rate minus A's (a fraction), or None when either is unknown."""
    if a.value is None or b.value is None:
        return None
    return b.value - a.value


def delta_text(change: float | None) -> str:
    """``+12.5 pp``."""
    return "-" if change is None else f"{100 * change:+.1f} pp"


def output_items(api: ApiClient, eval_id: str, run_id: str) -> Iterator[dict[str, Any]]:
    """Every output item of a run, oldest first, a page at a time."""
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": ITEMS_PAGE_SIZE, "order": "asc"}
        if after is not None:
            params["after"] = after
        page = api.get(f"{run_path(eval_id, run_id)}/output_items", params=params)
        yield from page["data"]
        if not page.get("has_more") or not page["data"]:
            return
        after = page["data"][-1]["id"]


@dataclass(frozen=True)
class Disagreement:
    """One item graded in both runs, passed in exactly one."""

    item_id: int
    a: dict[str, Any]
    b: dict[str, Any]


@dataclass(frozen=True)
class Disagreements:
    """The disagreeing items, by item id, and how many items both runs graded."""

    items: list[Disagreement]
    compared: int

    @property
    def passed_only_in_a(self) -> int:
        return sum(1 for d in self.items if d.a["status"] == "pass")

    @property
    def passed_only_in_b(self) -> int:
        return len(self.items) - self.passed_only_in_a


def find_disagreements(
    items_a: Iterator[dict[str, Any]], items_b: Iterator[dict[str, Any]]
) -> Disagreements:
    """Match the runs' items by ``datasource_item_id``; keep those passed in one run only."""
    by_id_a = {item["datasource_item_id"]: item for item in items_a}
    found: list[Disagreement] = []
    compared = 0
    for b in items_b:
        a = by_id_a.get(b["datasource_item_id"])
        if a is None:
            continue
        compared += 1
        if (a["status"] == "pass") != (b["status"] == "pass"):
            found.append(Disagreement(int(b["datasource_item_id"]), a, b))
    found.sort(key=lambda d: d.item_id)
    return Disagreements(found, compared)


def sample_text(item: dict[str, Any]) -> str:
    """What the model answered in the item's sample."""
    output = (item.get("sample") or {}).get("output") or []
    return "\n".join(str(message.get("content") or "") for message in output)


def item_side(item: dict[str, Any]) -> dict[str, Any]:
    """One run's side of a disagreeing item, for ``--json``."""
    return {
        "status": item["status"],
        "output": sample_text(item),
        "results": [
            {"name": r.get("name"), "passed": r.get("passed"), "score": r.get("score")}
            for r in item.get("results") or []
        ],
    }
