"""Per-API-key rate limits on ``/v1``: 429 in OpenAI's shape and ``x-ratelimit-*`` headers.

Runs after ``ApiKeyAuthentication`` (the key's id is the subject, never the key itself), so
probes, metrics and docs, which live outside ``/v1``, are never limited, and an unauthenticated
flood is refused by the key lookup before it reaches Redis.

What a route costs: every ``/v1`` request takes one from the ``requests`` bucket. Routes that
store bytes or start work in the workers (``EXPENSIVE_ROUTES``: file and upload creation, upload
parts and completion, job creation, estimates that tokenize a whole file) also take one from the
stricter ``expensive`` bucket, so a client cannot fill the blob store or the queues at the
read rate. Reads, cancels and inference cost one request each; inference has its own back
pressure (agents answer 429 when full).

Every limited response carries OpenAI's headers for the tightest bucket:
``x-ratelimit-limit-requests`` (per minute), ``x-ratelimit-remaining-requests`` and
``x-ratelimit-reset-requests`` (time until the bucket is full again, e.g. ``1s``, ``6m0s``); a
429 adds ``Retry-After`` (whole seconds) and ``retry-after-ms``, which the openai SDK honours.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter

from service.auth.caller import Caller
from service.errors import KeyRateLimited
from service.ratelimit import Bucket, Decision, RedisRateLimiter
from service.settings import Settings

logger = logging.getLogger(__name__)

_STATE_KEY = "rate_limits"

EXPENSIVE_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/v1/files"),
        ("POST", "/v1/uploads"),
        ("POST", "/v1/uploads/{upload_id}/parts"),
        ("POST", "/v1/uploads/{upload_id}/complete"),
        ("POST", "/v1/fine_tuning/jobs"),
        ("POST", "/v1/fine_tuning/estimate"),
    }
)

_BUCKET_WORDS = {
    "requests": "requests per min (RPM)",
    "expensive": "uploads and job creations per min",
}

RATE_LIMITED = Counter(
    "ftapi_rate_limited_requests_total", "Requests refused by a per-key rate limit.", ["bucket"]
)
RATE_LIMIT_UNCHECKED = Counter(
    "ftapi_rate_limit_unchecked_requests_total",
    "Requests served without a rate-limit check because the limiter's Redis did not answer.",
)


@dataclass(frozen=True)
class ApiRateLimits:
    """The limiter and the buckets ``/v1`` routes are charged to."""

    limiter: RedisRateLimiter
    requests: Bucket
    expensive: Bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiRateLimits:
        """Buckets and a limiter (own Redis pool) as the settings describe them."""
        limits = settings.rate_limits
        return cls(
            limiter=RedisRateLimiter.connect(
                limits.redis_url or settings.redis.url,
                timeout_s=limits.redis_timeout_s,
                unavailable_cooldown_s=limits.unavailable_cooldown_s,
                lease_s=limits.lease_s,
            ),
            requests=Bucket(
                "requests", limits.requests_per_minute, limits.burst or limits.requests_per_minute
            ),
            expensive=Bucket(
                "expensive",
                limits.expensive_per_minute,
                limits.expensive_burst or limits.expensive_per_minute,
            ),
        )

    def buckets_for(self, method: str, path_template: str) -> tuple[Bucket, ...]:
        """The buckets one request to this route is charged to."""
        if (method, path_template) in EXPENSIVE_ROUTES:
            return (self.requests, self.expensive)
        return (self.requests,)


def rate_limiting(settings: Settings) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan hook owning the limiter's Redis pool (nothing when limits are disabled)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if not settings.rate_limits.enabled:
            yield
            return
        limits = ApiRateLimits.from_settings(settings)
        app.state[_STATE_KEY] = limits
        try:
            yield
        finally:
            await limits.limiter.close()

    return lifespan


class RateLimitMiddleware(ASGIMiddleware):
    """Charges each authenticated request to its key's buckets; refuses with 429 when empty."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        limits: ApiRateLimits | None = scope["litestar_app"].state.get(_STATE_KEY)
        if limits is None:
            await next_app(scope, receive, send)
            return
        caller: Caller = scope["user"]
        buckets = limits.buckets_for(str(scope.get("method")), scope.get("path_template") or "")
        decision = await limits.limiter.acquire(caller.api_key_id, buckets)
        if decision is None:
            RATE_LIMIT_UNCHECKED.inc()
            await next_app(scope, receive, send)
            return
        if not decision.allowed:
            raise _refusal(decision)
        headers = rate_limit_headers(decision)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                outgoing = MutableScopeHeaders.from_message(message)
                for name, value in headers.items():
                    outgoing[name] = value
            await send(message)

        await next_app(scope, receive, send_with_headers)


def _refusal(decision: Decision) -> KeyRateLimited:
    state = decision.tightest
    bucket = state.bucket
    RATE_LIMITED.labels(bucket.name).inc()
    return KeyRateLimited(
        f"Rate limit reached for {_BUCKET_WORDS[bucket.name]} on this API key: Limit "
        f"{bucket.per_minute}, burst {bucket.burst}. Please try again in "
        f"{format_duration(decision.retry_after_s)}.",
        limit=bucket.per_minute,
        reset_s=state.reset_s,
        retry_after_exact_s=decision.retry_after_s,
    )


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """OpenAI's ``x-ratelimit-*-requests`` headers for the tightest of the request's buckets."""
    state = decision.tightest
    return {
        "x-ratelimit-limit-requests": str(state.bucket.per_minute),
        "x-ratelimit-remaining-requests": str(state.remaining),
        "x-ratelimit-reset-requests": format_duration(state.reset_s),
    }


def refusal_headers(error: KeyRateLimited) -> dict[str, str]:
    """Headers of a 429 beyond ``Retry-After``: the empty bucket and the wait in milliseconds."""
    return {
        "x-ratelimit-limit-requests": str(error.limit),
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": format_duration(error.reset_s),
        "retry-after-ms": str(math.ceil(error.retry_after_exact_s * 1000)),
    }


def format_duration(seconds: float) -> str:
    """A wait as OpenAI writes it (Go's duration format): ``20ms``, ``1.5s``, ``6m0s``."""
    millis = max(0, math.ceil(seconds * 1000))
    if millis < 1000:
        return f"{millis}ms"
    minutes, rest_ms = divmod(millis, 60_000)
    secs = f"{rest_ms / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
