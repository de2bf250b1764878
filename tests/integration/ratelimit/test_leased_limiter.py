"""The limiter against a real Redis: leases cut round trips, never the limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from service.ratelimit import Bucket, Decision, RedisRateLimiter

LEASE_S = 0.05
# A token back every 10 s: nothing refills while a test runs. Leases hold up to 400 // 20 = 20.
BUCKET = Bucket("requests", per_minute=6, burst=400)


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[Callable[[], RedisRateLimiter]]:
    """Limiters on one Redis database, as api replicas share one."""
    made: list[RedisRateLimiter] = []

    def replica() -> RedisRateLimiter:
        limiter = RedisRateLimiter.connect(
            redis_url, timeout_s=2.0, unavailable_cooldown_s=5.0, lease_s=LEASE_S
        )
        made.append(limiter)
        return limiter

    yield replica
    for limiter in made:
        await limiter.close()


def _count_redis_calls(limiter: RedisRateLimiter) -> list[int]:
    """Counts the limiter's script calls (wraps its own method; Redis still answers them)."""
    calls = [0]
    take = limiter._take

    async def counted(*args: object, **kwargs: object) -> Decision | None:
        calls[0] += 1
        return await take(*args, **kwargs)  # type: ignore[arg-type]

    limiter._take = counted  # type: ignore[method-assign]
    return calls


async def _acquire(limiter: RedisRateLimiter, subject: str) -> Decision:
    decision = await limiter.acquire(subject, (BUCKET,))
    assert decision is not None
    return decision


async def test_a_busy_key_takes_tokens_in_batches(
    replicas: Callable[[], RedisRateLimiter],
) -> None:
    limiter = replicas()
    calls = _count_redis_calls(limiter)

    decisions = [await _acquire(limiter, "busy") for _ in range(100)]

    assert all(decision.allowed for decision in decisions)
    assert calls[0] < 20  # 1, then leases of up to 20 tokens
    remaining = [decision.tightest.remaining for decision in decisions]
    assert remaining == list(range(399, 299, -1))  # each request counted once, in order


async def test_concurrent_requests_of_one_key_wait_for_one_lease(
    replicas: Callable[[], RedisRateLimiter],
) -> None:
    limiter = replicas()
    calls = _count_redis_calls(limiter)
    await _acquire(limiter, "crowd")  # some history, so the next lease is sized by demand

    decisions = await asyncio.gather(*(_acquire(limiter, "crowd") for _ in range(60)))

    assert all(decision.allowed for decision in decisions)
    assert calls[0] <= 1 + 60 // 20 + 2
    assert sorted(d.tightest.remaining for d in decisions) == list(range(339, 399))


async def test_replicas_never_exceed_the_limit_and_unspent_tokens_come_back(
    replicas: Callable[[], RedisRateLimiter],
) -> None:
    a, b = replicas(), replicas()
    for _ in range(30):
        assert (await _acquire(a, "shared")).allowed  # a now holds a lease with tokens left
    assert (await _acquire(b, "shared")).allowed

    await asyncio.sleep(LEASE_S * 2)  # a's lease lapses; its next lease gives back the rest
    after_refund = await _acquire(a, "shared")
    assert after_refund.tightest.remaining == 400 - 32  # 31 of a's, 1 of b's: nothing lost

    allowed = 32
    while True:
        decisions = [await _acquire(a, "shared"), await _acquire(b, "shared")]
        allowed += sum(decision.allowed for decision in decisions)
        if not any(decision.allowed for decision in decisions):
            break
    assert 400 - 2 * 20 <= allowed <= 400  # what a replica holds unspent is at most a lease


async def test_a_refused_key_is_refused_without_asking_redis_until_its_retry_time(
    replicas: Callable[[], RedisRateLimiter],
) -> None:
    limiter = replicas()
    small = Bucket("requests", per_minute=60, burst=2)  # a token back every second
    for _ in range(2):
        assert (await limiter.acquire("small", (small,)) or _fail()).allowed
    calls = _count_redis_calls(limiter)

    refused = await limiter.acquire("small", (small,)) or _fail()
    again = await limiter.acquire("small", (small,)) or _fail()

    assert not refused.allowed
    assert not again.allowed
    assert calls[0] == 1
    assert 0 < again.retry_after_s <= refused.retry_after_s <= 1.0
    await asyncio.sleep(refused.retry_after_s + 0.01)
    assert (await limiter.acquire("small", (small,)) or _fail()).allowed
    assert calls[0] == 2


async def test_requests_charged_to_several_buckets_are_charged_exactly(
    replicas: Callable[[], RedisRateLimiter],
) -> None:
    limiter = replicas()
    expensive = Bucket("expensive", per_minute=6, burst=3)
    calls = _count_redis_calls(limiter)

    decisions = [await limiter.acquire("both", (BUCKET, expensive)) or _fail() for _ in range(4)]

    assert [decision.allowed for decision in decisions] == [True, True, True, False]
    assert calls[0] == 4
    assert decisions[2].tightest.remaining == 0


def _fail() -> Decision:
    raise AssertionError("the limiter skipped the check")
