"""A series of numbers as one line of block characters, scaled between its min and max."""

from __future__ import annotations

from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"
DEFAULT_WIDTH = 40


def sparkline(values: Sequence[float], width: int = DEFAULT_WIDTH) -> str:
    """The last ``width`` values as ``▇▆▅▃▂▁``: lowest ``▁``, highest ``█``; a flat series is
    all ``▄`` (nothing to compare), non-finite values are left out."""
    shown = [value for value in values if value == value and abs(value) != float("inf")]
    shown = shown[-width:] if width > 0 else []
    if not shown:
        return ""
    low, high = min(shown), max(shown)
    if high == low:
        return BLOCKS[len(BLOCKS) // 2 - 1] * len(shown)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[round((value - low) / (high - low) * top)] for value in shown)
