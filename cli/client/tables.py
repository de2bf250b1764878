"""What the user commands print: aligned plain-text tables, or the API's JSON with ``--json``.

Tables are plain padded columns (like ``kubectl get``): never truncated or wrapped, so an id can
be copied from any terminal width or log file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import typer

COLUMN_GAP = "  "


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """``headers`` upper-cased, then one line per row; ``None`` cells print as ``-``."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(value)) for width, value in zip(widths, row, strict=True)]
    for row in [[header.upper() for header in headers], *cells]:
        padded = [value.ljust(width) for value, width in zip(row, widths, strict=True)]
        typer.echo(COLUMN_GAP.join(padded).rstrip())


def print_json(value: object) -> None:
    """``value`` as indented JSON on stdout."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def show(
    value: dict[str, Any], *, json_output: bool, human: Callable[[dict[str, Any]], None]
) -> None:
    """An API answer: as JSON for scripts (``--json``), else as ``human`` renders it."""
    if json_output:
        print_json(value)
    else:
        human(value)


def echo_deleted(answer: dict[str, Any]) -> None:
    """The one-line human answer to a DELETE."""
    typer.echo(f"deleted {answer['id']}")


def print_fields(pairs: Iterable[tuple[str, object]]) -> None:
    """``name: value`` lines, names aligned; ``None`` values are left out."""
    shown = [(name, _cell(value)) for name, value in pairs if value is not None]
    width = max((len(name) for name, _ in shown), default=0)
    for name, value in shown:
        typer.echo(f"{name + ':':<{width + 1}} {value}")


def format_timestamp(epoch_s: int | None) -> str | None:
    """A Unix time as ``2024-05-01 12:00:00Z`` (UTC)."""
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
