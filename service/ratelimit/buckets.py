"""What a limit is and what a request against it decided."""

from __future__ import annotations

from dataclasses import dataclass

_MICROS_PER_S = 1_000_000


@dataclass(frozen=True)
class Bucket:
    """A limit: ``per_minute`` requests sustained, up to ``burst`` at once."""

    name: str
    per_minute: int
    burst: int

    @property
    def interval_us(self) -> int:
        """Time one request's token takes to come back."""
        return max(1, round(60 * _MICROS_PER_S / self.per_minute))


@dataclass(frozen=True)
class BucketState:
    """One bucket after a request: what is left and when it is full again."""

    bucket: Bucket
    remaining: int
    reset_s: float


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against its buckets (``granted``: tokens taken, when more
    than one was asked for to lease)."""

    allowed: bool
    retry_after_s: float
    states: tuple[BucketState, ...]
    granted: int = 1

    @property
    def tightest(self) -> BucketState:
        """The bucket to report: the one refusing, or else the one with least left."""
        return min(self.states, key=lambda state: (state.remaining, -state.reset_s))
