"""GCRA rate limiting in Redis: one atomic script per round trip, leased to replicas in batches.

GCRA (the generic cell rate algorithm) keeps one number per bucket, the theoretical arrival time
(TAT) of the next request; a bucket of ``burst`` requests refilling at ``per_minute`` is the same
as "a request is allowed when TAT - burst * interval <= now". Time comes from Redis (``TIME``),
so replicas with skewed clocks share one view. A request charged to several buckets is allowed
only when all of them allow it, and a refusal charges none of them. Requests charged to one
bucket are served from token leases (``service/ratelimit/leases.py``) when ``lease_s`` is set.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from service.ratelimit.buckets import Bucket, BucketState, Decision
from service.ratelimit.leases import Lease, lease_size

logger = logging.getLogger(__name__)

DEFAULT_MAX_LEASES = 10_000

# KEYS: one per bucket. ARGV: tokens wanted, tokens given back (unspent by a lapsed lease),
# then interval_us and burst for each bucket in the same order. Grants as many tokens as every
# bucket holds, up to the number wanted; none when a bucket cannot give one.
# Reply: granted (0 is a refusal), retry_after_us, then remaining and reset_us for each bucket.
_GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local want = tonumber(ARGV[1])
local refund = tonumber(ARGV[2])
local tats = {}
local granted = want
local retry_after = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i + 1])
  local burst = tonumber(ARGV[2 * i + 2])
  local stored = redis.call('GET', key)
  local tat = now
  if stored then tat = math.max(tonumber(stored) - refund * interval, now) end
  local available = math.floor((now + interval * burst - tat) / interval)
  if available < 1 then
    retry_after = math.max(retry_after, tat + interval - interval * burst - now)
  end
  granted = math.max(0, math.min(granted, available))
  tats[i] = tat
end
local reply = {granted, retry_after}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i + 1])
  local burst = tonumber(ARGV[2 * i + 2])
  local tat = tats[i] + granted * interval
  if granted > 0 or refund > 0 then
    local ttl_ms = math.max(1, math.ceil((tat - now) / 1000))
    redis.call('SET', key, string.format('%.0f', tat), 'PX', ttl_ms)
  end
  reply[#reply + 1] = math.max(0, math.floor((interval * burst - (tat - now)) / interval))
  reply[#reply + 1] = tat - now
end
return reply
"""


def rate_limit_key(subject: str, bucket: str) -> str:
    """Redis key of one subject's bucket. The ``{subject}`` hash tag keeps all of a subject's
    buckets in one cluster slot, which a multi-key script needs."""
    return f"ftapi:ratelimit:{{{subject}}}:{bucket}"


class RedisRateLimiter:
    """Charges requests to GCRA buckets in Redis; answers None while Redis does not answer.

    A limiter outage must not take the api down: on an error the request goes unchecked (the
    caller serves it) and so do all requests for ``unavailable_cooldown_s``, so a hung Redis
    costs one timeout per cooldown, not one per request.

    With ``lease_s`` > 0, requests charged to a single bucket are served from leases, and a
    refused key is refused locally until its retry time, so a flood over the limit does not
    become a flood of Redis calls. ``lease_s`` = 0 charges every request in Redis.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        unavailable_cooldown_s: float = 5.0,
        lease_s: float = 0.0,
        max_leases: int = DEFAULT_MAX_LEASES,
    ) -> None:
        self._redis = redis
        self._script = redis.register_script(_GCRA_SCRIPT)
        self._cooldown_s = unavailable_cooldown_s
        self._unchecked_until = 0.0
        self._lease_s = lease_s
        self._max_leases = max_leases
        self._leases: dict[tuple[str, str], Lease] = {}
        # One lease request in flight per key; other requests for the key wait for it.
        self._leasing: dict[tuple[str, str], asyncio.Event] = {}

    @classmethod
    def connect(
        cls, url: str, *, timeout_s: float, unavailable_cooldown_s: float, lease_s: float = 0.0
    ) -> RedisRateLimiter:
        """A limiter with its own pool: short timeouts and no retries, unlike the queue's."""
        redis = Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
        )
        return cls(redis, unavailable_cooldown_s=unavailable_cooldown_s, lease_s=lease_s)

    async def acquire(self, subject: str, buckets: Sequence[Bucket]) -> Decision | None:
        """Charge one request to every bucket of ``subject``; None when the check was skipped."""
        if len(buckets) == 1 and self._lease_s > 0:
            return await self._acquire_leased(subject, buckets[0])
        if time.monotonic() < self._unchecked_until:
            return None
        return await self._take(subject, buckets, want=1, refund=0)

    async def _acquire_leased(self, subject: str, bucket: Bucket) -> Decision | None:
        key = (subject, bucket.name)
        while True:
            now = time.monotonic()
            lease = self._leases.get(key)
            if lease is not None and lease.live(now):
                return lease.spend(now)
            if now < self._unchecked_until:
                return None
            leasing = self._leasing.get(key)
            if leasing is None:
                break
            await leasing.wait()
        leasing = self._leasing[key] = asyncio.Event()
        try:
            want = lease_size(bucket, lease, now, self._lease_s)
            refund = 0 if lease is None else lease.lapsed_unspent(now)
            decision = await self._take(subject, (bucket,), want=want, refund=refund)
            if decision is None:
                return None
            now = time.monotonic()
            lease = Lease.of(decision, now, self._lease_s)
            self._remember(key, lease)
            return lease.spend(now)
        finally:
            del self._leasing[key]
            leasing.set()

    def _remember(self, key: tuple[str, str], lease: Lease) -> None:
        self._leases.pop(key, None)
        if len(self._leases) >= self._max_leases:
            # The oldest lease; its unspent tokens come back to the key as its bucket refills.
            del self._leases[next(iter(self._leases))]
        self._leases[key] = lease

    async def _take(
        self, subject: str, buckets: Sequence[Bucket], *, want: int, refund: int
    ) -> Decision | None:
        keys = [rate_limit_key(subject, bucket.name) for bucket in buckets]
        args = [want, refund]
        args += [value for bucket in buckets for value in (bucket.interval_us, bucket.burst)]
        try:
            reply = await self._script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning(
                "rate limiter unavailable (%s); serving requests unchecked for %.0f s",
                type(exc).__name__,
                self._cooldown_s,
            )
            self._unchecked_until = time.monotonic() + self._cooldown_s
            return None
        return _decision(buckets, [int(value) for value in reply])

    async def close(self) -> None:
        """Release the connection pool."""
        await self._redis.aclose()


def _decision(buckets: Sequence[Bucket], reply: list[int]) -> Decision:
    granted, retry_after_us, *per_bucket = reply
    states = tuple(
        BucketState(bucket, remaining=per_bucket[2 * i], reset_s=per_bucket[2 * i + 1] / 1e6)
        for i, bucket in enumerate(buckets)
    )
    return Decision(
        allowed=granted > 0,
        retry_after_s=math.ceil(retry_after_us / 1000) / 1000,
        states=states,
        granted=granted,
    )
