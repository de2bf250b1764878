"""Time as a seam: the real clock, and the protocol tests may implement."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time in microseconds since the Unix epoch."""

    def now_us(self) -> int: ...


class SystemClock:
    """The real clock."""

    def now_us(self) -> int:
        return time.time_ns() // 1000


def to_seconds(us: int) -> int:
    """Unix seconds (the wire's timestamp unit) from microseconds."""
    return us // 1_000_000
