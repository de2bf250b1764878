"""What every ftapi arq worker shares: its ``arq.Worker`` options and its one typed context.

arq hands each task and hook a ``ctx`` dict. A worker keeps exactly one object in it, its
context (what its tasks use, built at start-up and closed at shutdown), under one key; tasks
declare that context as their first parameter and ``task_policy`` adapts them to arq.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from service.queue.arq_queue import arq_redis_settings
from service.queue.names import QueueName
from service.queue.serialization import deserialize, serialize
from service.settings import Settings

HEALTH_CHECK_INTERVAL_S = 15  # arq keeps each worker's health key for this + 1 s
_CONTEXT_KEY = "context"


class WorkerContext(Protocol):
    """What a worker builds at start-up and closes at shutdown."""

    async def close(self) -> None: ...


C = TypeVar("C", bound=WorkerContext)


def worker_options(
    settings: Settings, queue: QueueName, open_context: Callable[[], Awaitable[WorkerContext]]
) -> dict[str, Any]:
    """Options every ftapi worker passes to ``arq.Worker``; ``open_context`` runs at start-up."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx[_CONTEXT_KEY] = await open_context()

    async def shutdown(ctx: dict[str, Any]) -> None:
        # arq calls this after a failed start-up too, when there is no context to close.
        context: WorkerContext | None = ctx.pop(_CONTEXT_KEY, None)
        if context is not None:
            await context.close()

    return {
        "queue_name": queue.value,
        "redis_settings": arq_redis_settings(
            settings.redis.url, connect_timeout_s=settings.redis.connect_timeout_s
        ),
        "job_serializer": serialize,
        "job_deserializer": deserialize,
        "keep_result": 0,  # results live in the database; arq's would only pin job ids
        "allow_abort_jobs": True,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "handle_signals": True,
    }


def context_of(ctx: dict[str, Any], kind: type[C]) -> C:
    """The worker's context from arq's ``ctx`` dict, checked to be a ``kind``."""
    context = ctx[_CONTEXT_KEY]
    if not isinstance(context, kind):
        raise TypeError(f"this worker's context is a {type(context).__name__}, not {kind.__name__}")
    return context
