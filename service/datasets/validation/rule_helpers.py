"""Small helpers shared by the rules: rendering a user's value, flagging unknown keys."""

from __future__ import annotations

from typing import Any

import msgspec

from service.datasets.validation.problems import LineFindings, ProblemCode


def show(value: Any, max_chars: int = 40) -> str:
    """A short JSON rendering of a user's value for an error message."""
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, ValueError, OverflowError):
        text = repr(value)
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


def check_keys(
    value: dict[str, Any], allowed: frozenset[str], path: str, findings: LineFindings
) -> None:
    """Record an ``unrecognized_key`` problem for each key of ``value`` outside ``allowed``."""
    for key in value:
        if key not in allowed:
            findings.problem(
                ProblemCode.UNRECOGNIZED_KEY,
                f"{path}.{key}",
                f"unknown key {show(key)}; allowed: {', '.join(sorted(allowed))}",
            )
