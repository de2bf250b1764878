"""``ftapi worker``: run a queue worker, or probe the liveness of the one beside the probe."""

from __future__ import annotations

import socket
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from service.settings import Settings

if TYPE_CHECKING:
    from service.queue.names import QueueName


class WorkerQueue(StrEnum):
    CTL = "ctl"
    GPU = "gpu"


def worker(
    queue: Annotated[WorkerQueue, typer.Option(help="Which queue to serve.")],
    burst: Annotated[bool, typer.Option(help="Exit once the queue is empty.")] = False,
    check: Annotated[
        bool,
        typer.Option(help="Liveness probe: exit 0 if the worker WORKER_ID of QUEUE is alive."),
    ] = False,
    worker_id: Annotated[
        str | None,
        typer.Option(
            envvar="FTAPI_WORKER_ID",
            help="Name of this worker's health key; default: the host name (a pod's name). "
            "Give each worker of one queue on one host its own.",
        ),
    ] = None,
) -> None:
    """Serve the ctl queue (validation, webhooks, reconciler) or the gpu queue (training)."""
    from service.queue.names import health_check_key

    # The probe runs beside its worker (same pod, same container), so both derive the same name.
    health_key = health_check_key(_queue_name(queue), worker_id or socket.gethostname())
    if check:
        raise typer.Exit(0 if _healthy(Settings(), queue, health_key) else 1)

    from arq.worker import Worker

    from gpu_runner.gpu_worker.tasks import gpu_worker_options
    from service.ctl_worker.tasks import ctl_worker_options
    from service.observability.tracing import traced_worker_options

    settings = Settings()
    options = (
        ctl_worker_options(settings) if queue is WorkerQueue.CTL else gpu_worker_options(settings)
    )
    options = traced_worker_options(options, settings, queue.value)
    Worker(burst=burst, health_check_key=health_key, **options).run()


def _queue_name(queue: WorkerQueue) -> QueueName:
    from service.queue.names import QueueName

    return QueueName.CTL if queue is WorkerQueue.CTL else QueueName.GPU


def _healthy(settings: Settings, queue: WorkerQueue, health_key: str) -> bool:
    """Whether this worker wrote its health line recently (arq refreshes it every interval and
    lets it expire one second after, so a stopped or hung worker's key is gone)."""
    from redis import Redis
    from redis.exceptions import RedisError

    timeout_s = settings.redis.connect_timeout_s
    # A probe answers fast or fails: no retries with backoff, unlike the workers' client.
    client = Redis.from_url(
        settings.redis.url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
    )
    try:
        line = client.get(health_key)
    except (OSError, RedisError) as exc:
        typer.echo(f"Redis at {settings.redis.url} does not answer: {exc}", err=True)
        return False
    finally:
        client.close()
    if line is None:
        typer.echo(f"no live {queue.value} worker: {health_key} is missing or expired", err=True)
        return False
    typer.echo(line.decode() if isinstance(line, bytes) else str(line))
    return True
