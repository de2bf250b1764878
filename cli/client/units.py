"""Sizes and durations as people type and read them (``16MiB``, ``1.5 GiB``, ``2m05s``)."""

from __future__ import annotations

import re

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*", re.IGNORECASE)
_BINARY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_DECIMAL_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def parse_size(text: str) -> int:
    """Bytes in ``text``: a plain number, or with a unit (``KiB``/``MiB``/``GiB`` are powers of
    1024, ``KB``/``MB``/``GB`` powers of 1000, a bare ``K``/``M``/``G`` counts as binary)."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size: use bytes or a unit, e.g. 16MiB")
    number, unit = float(match.group(1)), match.group(2).lower()
    prefix = unit.rstrip("b").rstrip("i")
    decimal = unit.endswith("b") and "i" not in unit and prefix != ""
    scale = (_DECIMAL_UNITS if decimal else _BINARY_UNITS)[prefix]
    size = int(number * scale)
    if size < 1:
        raise ValueError(f"{text!r} is less than one byte")
    return size


def format_bytes(n_bytes: int) -> str:
    """``n_bytes`` in the largest binary unit that keeps it at 1 or more (``1.5 MiB``)."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n_bytes} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_duration(seconds: float) -> str:
    """``45s``, ``2m05s``, ``1h02m``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
