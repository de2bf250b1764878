"""GCRA rate limiting in Redis: one atomic script, one round trip per request.

GCRA (the generic cell rate algorithm) keeps one number per bucket, the theoretical arrival time
(TAT) of the next request; a bucket of ``burst`` requests refilling at ``per_minute`` is the same
as "a request is allowed when TAT - burst * interval <= now". Time comes from Redis (``TIME``),
so replicas with skewed clocks share one view. A request charged to several buckets is allowed
only when all of them allow it, and a refusal charges none of them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_MICROS_PER_S = 1_000_000

# KEYS: one per bucket. ARGV: interval_us, burst for each bucket in the same order.
# Reply: allowed (0/1), retry_after_us, then remaining and reset_us for each bucket.
_GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tats = {}
local allowed = 1
local retry_after = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local stored = redis.call('GET', key)
  local tat = now
  if stored then tat = math.max(tonumber(stored), now) end
  local wait = tat + interval - interval * burst - now
  if wait > 0 then
    allowed = 0
    retry_after = math.max(retry_after, wait)
  end
  tats[i] = tat
end
local reply = {allowed, retry_after}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tats[i]
  if allowed == 1 then
    tat = tat + interval
    redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
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
    """The outcome of one request against its buckets."""

    allowed: bool
    retry_after_s: float
    states: tuple[BucketState, ...]

    @property
    def tightest(self) -> BucketState:
        """The bucket to report: the one refusing, or else the one with least left."""
        return min(self.states, key=lambda state: (state.remaining, -state.reset_s))


class RedisRateLimiter:
    """Charges requests to GCRA buckets in Redis; answers None while Redis does not answer.

    A limiter outage must not take the api down: on an error the request goes unchecked (the
    caller serves it) and so do all requests for ``unavailable_cooldown_s``, so a hung Redis
    costs one timeout per cooldown, not one per request.
    """

    def __init__(self, redis: Redis, *, unavailable_cooldown_s: float = 5.0) -> None:
        self._redis = redis
        self._script = redis.register_script(_GCRA_SCRIPT)
        self._cooldown_s = unavailable_cooldown_s
        self._unchecked_until = 0.0

    @classmethod
    def connect(
        cls, url: str, *, timeout_s: float, unavailable_cooldown_s: float
    ) -> RedisRateLimiter:
        """A limiter with its own pool: short timeouts and no retries, unlike the queue's."""
        redis = Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
        )
        return cls(redis, unavailable_cooldown_s=unavailable_cooldown_s)

    async def acquire(self, subject: str, buckets: Sequence[Bucket]) -> Decision | None:
        """Charge one request to every bucket of ``subject``; None when the check was skipped."""
        if time.monotonic() < self._unchecked_until:
            return None
        keys = [rate_limit_key(subject, bucket.name) for bucket in buckets]
        args = [value for bucket in buckets for value in (bucket.interval_us, bucket.burst)]
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
    allowed, retry_after_us, *per_bucket = reply
    states = tuple(
        BucketState(bucket, remaining=per_bucket[2 * i], reset_s=per_bucket[2 * i + 1] / 1e6)
        for i, bucket in enumerate(buckets)
    )
    return Decision(
        allowed=bool(allowed),
        retry_after_s=math.ceil(retry_after_us / 1000) / 1000,
        states=states,
    )
