"""The retry schedule: the waits in order, the last repeated, jitter bounded, Retry-After."""

from __future__ import annotations

import random

import pytest

from service.settings import WebhooksSettings
from service.webhooks.backoff import next_delay_s, retry_delay_s, with_jitter

DEFAULT_RETRY_SCHEDULE_S = tuple(WebhooksSettings().retry_schedule_s)


def test_the_waits_follow_the_schedule_and_the_last_one_repeats() -> None:
    waits = [retry_delay_s(attempt, DEFAULT_RETRY_SCHEDULE_S) for attempt in range(1, 10)]

    assert waits == [5, 30, 120, 600, 3600, 10800, 21600, 21600, 21600]


def test_by_default_eight_attempts_span_about_eleven_hours() -> None:
    max_attempts = WebhooksSettings().max_attempts
    total_s = sum(
        retry_delay_s(attempt, DEFAULT_RETRY_SCHEDULE_S) for attempt in range(1, max_attempts)
    )

    assert max_attempts == 8
    assert 10 * 3600 < total_s < 12 * 3600


def test_attempts_are_numbered_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        retry_delay_s(0, DEFAULT_RETRY_SCHEDULE_S)


def test_jitter_stays_within_its_ratio_and_varies() -> None:
    rng = random.Random(7)

    delays = [with_jitter(100.0, 0.1, rng) for _ in range(200)]

    assert all(90.0 <= delay <= 110.0 for delay in delays)
    assert len({round(delay, 3) for delay in delays}) > 100


def test_retry_after_lengthens_the_wait_but_not_beyond_the_longest() -> None:
    rng = random.Random(0)
    schedule = (5.0, 60.0)

    assert next_delay_s(1, schedule, jitter_ratio=0, rng=rng, retry_after_s=30) == 30
    assert next_delay_s(1, schedule, jitter_ratio=0, rng=rng, retry_after_s=1) == 5
    assert next_delay_s(1, schedule, jitter_ratio=0, rng=rng, retry_after_s=10_000) == 60
