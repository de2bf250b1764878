"""What both workers share: start-up and shutdown of the process runtime, arq options."""

from __future__ import annotations

import logging
from typing import Any

from service.db.migrate import upgrade_database_async
from service.logs import configure_logging
from service.queue.arq_queue import arq_redis_settings
from service.queue.names import QueueName
from service.queue.serialization import deserialize, serialize
from service.runtime import Runtime
from service.settings import Settings

logger = logging.getLogger(__name__)

HEALTH_CHECK_INTERVAL_S = 15  # arq keeps each worker's health key for this + 1 s


async def start_runtime(ctx: dict[str, Any]) -> Runtime:
    """Build the runtime from the environment into ``ctx["runtime"]``."""
    settings: Settings = ctx["settings"]
    configure_logging(settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.database.migrate_on_start:
        await upgrade_database_async(settings.database_url)
    runtime = Runtime.build(settings)
    ctx["runtime"] = runtime
    return runtime


async def stop_runtime(ctx: dict[str, Any]) -> None:
    """Close what ``start_runtime`` opened."""
    runtime: Runtime | None = ctx.get("runtime")
    if runtime is not None:
        await runtime.close()


def arq_options(settings: Settings, queue: QueueName) -> dict[str, Any]:
    """Options every ftapi worker passes to ``arq.Worker``."""
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
        "ctx": {"settings": settings},
        "handle_signals": True,
    }
