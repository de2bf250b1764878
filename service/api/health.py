"""Liveness and readiness probes (outside ``/v1``, no key needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, get
from litestar.response import Response
from sqlalchemy import text

from service.api.providers import api_services_of
from service.wiring.resources import Resources

CHECK_TIMEOUT_S = 3.0


@get("/healthz", include_in_schema=True, tags=["Health"], summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up and serving requests."""
    return {"status": "ok"}


@get("/readyz", tags=["Health"], summary="Readiness")
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Ready when the database, Redis and the blob store all answer; 503 names what failed."""
    resources = api_services_of(request.app).resources
    checks = dict(
        zip(
            ("database", "redis", "blob_store"),
            await asyncio.gather(
                _check(lambda: _ping_database(resources)),
                _check(lambda: _ping_redis(resources)),
                _check(resources.blobs.ping),
            ),
            strict=True,
        )
    )
    ready = all(outcome == "ok" for outcome in checks.values())
    return Response(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


async def _check(probe: Callable[[], Awaitable[Any]]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe()
    except TimeoutError:
        return f"error: no answer within {CHECK_TIMEOUT_S:g}s"
    except Exception as exc:  # a probe reports any failure as its outcome
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


async def _ping_database(resources: Resources) -> None:
    async with resources.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _ping_redis(resources: Resources) -> None:
    await resources.redis.ping()
