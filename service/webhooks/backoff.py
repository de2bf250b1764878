"""When to try a failed delivery again: a schedule of waits, with jitter and ``Retry-After``.

The schedule is ``settings.webhooks.retry_schedule_s``: waits after attempt 1, 2, ... failed,
the last one repeating (by default 5 s, 30 s, 2 min, 10 min, 1 h, 3 h, 6 h: 8 attempts over ~11 h).
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def retry_delay_s(failed_attempt: int, schedule_s: Sequence[float]) -> float:
    """The wait after attempt number ``failed_attempt`` (1-based) failed."""
    if failed_attempt < 1:
        raise ValueError(f"attempts are numbered from 1, got {failed_attempt}")
    return float(schedule_s[min(failed_attempt, len(schedule_s)) - 1])


def with_jitter(delay_s: float, jitter_ratio: float, rng: random.Random) -> float:
    """``delay_s`` moved by up to ``jitter_ratio`` either way, so endpoints that failed
    together are not all retried in the same second."""
    return delay_s * (1 + rng.uniform(-jitter_ratio, jitter_ratio))


def next_delay_s(
    failed_attempt: int,
    schedule_s: Sequence[float],
    *,
    jitter_ratio: float,
    rng: random.Random,
    retry_after_s: float | None = None,
) -> float:
    """The wait before the next attempt: the jittered schedule, or longer when the endpoint
    asked (``Retry-After``), but never beyond the schedule's longest wait."""
    delay = with_jitter(retry_delay_s(failed_attempt, schedule_s), jitter_ratio, rng)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, max(schedule_s)))
    return delay
