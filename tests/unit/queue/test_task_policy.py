"""The failure policy's backoff: doubling from one second, capped."""

from __future__ import annotations

from service.queue.task_policy import BACKOFF_CAP_S, backoff_s


def test_outages_back_off_exponentially_up_to_the_cap() -> None:
    assert [backoff_s(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, BACKOFF_CAP_S, BACKOFF_CAP_S]
