"""``ftapi worker``: run a queue worker."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated

import typer

from service.settings import Settings


class WorkerQueue(StrEnum):
    CTL = "ctl"
    GPU = "gpu"


def worker(
    queue: Annotated[WorkerQueue, typer.Option(help="Which queue to serve.")],
    burst: Annotated[bool, typer.Option(help="Exit once the queue is empty.")] = False,
    check: Annotated[
        bool, typer.Option(help="Liveness probe: exit 0 if a worker of QUEUE is alive.")
    ] = False,
) -> None:
    """Serve the ctl queue (validation, webhooks, reconciler) or the gpu queue (training)."""
    from arq.worker import Worker

    if check:
        raise typer.Exit(0 if asyncio.run(_healthy(Settings(), queue)) else 1)

    from service.worker.ctl import ctl_worker_options
    from service.worker.gpu import gpu_worker_options

    settings = Settings()
    options = (
        ctl_worker_options(settings) if queue is WorkerQueue.CTL else gpu_worker_options(settings)
    )
    Worker(burst=burst, **options).run()


async def _healthy(settings: Settings, queue: WorkerQueue) -> bool:
    """Whether a worker wrote its health line recently (arq refreshes it every interval)."""
    from service.queue.arq_queue import arq_redis
    from service.queue.names import QueueName, health_check_key

    redis = arq_redis(settings.redis.url)
    try:
        line = await redis.get(
            health_check_key(QueueName.CTL if queue is WorkerQueue.CTL else QueueName.GPU)
        )
    finally:
        await redis.aclose(close_connection_pool=True)
    if line is None:
        typer.echo(f"no live {queue.value} worker", err=True)
        return False
    typer.echo(line.decode() if isinstance(line, bytes) else str(line))
    return True
