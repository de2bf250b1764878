"""Lease sizing and the headers a lease answers with: arithmetic on Redis's numbers."""

from __future__ import annotations

import pytest

from service.ratelimit import Bucket, BucketState, Decision
from service.ratelimit.leases import Lease, lease_size

# 6000 a minute: a token comes back every 10 ms; a lease holds at most 100 // 20 = 5.
BUCKET = Bucket("requests", per_minute=6000, burst=100)
LEASE_S = 0.5


def _granted(tokens: int, *, remaining: int, reset_s: float) -> Decision:
    return Decision(
        allowed=True,
        retry_after_s=0.0,
        states=(BucketState(BUCKET, remaining=remaining, reset_s=reset_s),),
        granted=tokens,
    )


def _lease(granted: int, spent: int, *, at: float = 0.0) -> Lease:
    lease = Lease.of(
        _granted(granted, remaining=100 - granted, reset_s=granted * 0.01), at, LEASE_S
    )
    for _ in range(spent):
        lease.spend(at)
    return lease


def test_a_key_with_no_history_and_a_slow_key_lease_one_token() -> None:
    assert lease_size(BUCKET, None, now=0.0, lease_s=LEASE_S) == 1
    slow = _lease(1, 1, at=0.0)
    assert lease_size(BUCKET, slow, now=10.0, lease_s=LEASE_S) == 1


def test_a_busy_key_leases_its_recent_demand_up_to_a_20th_of_the_burst() -> None:
    two_in_a_second = _lease(2, 2, at=0.0)
    assert lease_size(BUCKET, two_in_a_second, now=1.0, lease_s=LEASE_S) == 1
    eight_a_second = _lease(4, 4, at=0.0)
    assert lease_size(BUCKET, eight_a_second, now=0.5, lease_s=LEASE_S) == 4
    flood = _lease(1, 1, at=0.0)
    assert lease_size(BUCKET, flood, now=0.001, lease_s=LEASE_S) == 5


def test_a_burst_under_twenty_times_two_is_charged_one_request_at_a_time() -> None:
    small = Bucket("requests", per_minute=6000, burst=39)
    flood = Lease.of(
        Decision(True, 0.0, (BucketState(small, remaining=38, reset_s=0.01),)), 0.0, LEASE_S
    )
    flood.spend(0.0)
    assert lease_size(small, flood, now=0.001, lease_s=LEASE_S) == 1


def test_after_a_refusal_the_next_lease_is_one_token() -> None:
    refused = Lease.of(
        Decision(False, 0.5, (BucketState(BUCKET, remaining=0, reset_s=1.0),), granted=0),
        0.0,
        LEASE_S,
    )
    assert lease_size(BUCKET, refused, now=0.6, lease_s=LEASE_S) == 1


def test_a_leased_request_reports_what_the_key_has_left_counting_unspent_tokens() -> None:
    # Five granted: Redis holds 95 and is full again in 50 ms; the first spend leaves 4 here.
    lease = Lease.of(_granted(5, remaining=95, reset_s=0.05), 0.0, LEASE_S)

    first = lease.spend(0.0)
    assert first.allowed
    assert first.tightest.remaining == 99  # as if the one request had been charged alone
    assert first.tightest.reset_s == pytest.approx(0.01)

    second = lease.spend(0.0)
    assert second.tightest.remaining == 98
    assert second.tightest.reset_s == pytest.approx(0.02)

    later = lease.spend(0.025)  # two and a half tokens came back meanwhile
    assert later.tightest.remaining == 99
    assert later.tightest.reset_s == pytest.approx(0.005)


def test_a_lease_lives_until_spent_or_lapsed_and_then_gives_back_what_is_left() -> None:
    lease = _lease(3, 1)
    assert lease.live(0.1)
    assert lease.lapsed_unspent(0.1) == 0  # still running: nothing to give back
    assert not lease.live(LEASE_S)
    assert lease.lapsed_unspent(LEASE_S) == 2

    drained = _lease(2, 2)
    assert not drained.live(0.1)
    assert drained.lapsed_unspent(LEASE_S) == 0


def test_a_refusal_is_answered_locally_until_its_retry_time() -> None:
    refused = Lease.of(
        Decision(False, 0.4, (BucketState(BUCKET, remaining=0, reset_s=1.0),), granted=0),
        10.0,
        LEASE_S,
    )
    assert refused.live(10.3)
    again = refused.spend(10.3)
    assert not again.allowed
    assert again.retry_after_s == pytest.approx(0.1)
    assert not refused.live(10.4)
