"""``ftapi worker``: run a queue worker."""

from __future__ import annotations

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
) -> None:
    """Serve the ctl queue (validation, webhooks, reconciler) or the gpu queue (training)."""
    from arq.worker import Worker

    from service.worker.ctl import ctl_worker_options
    from service.worker.gpu import gpu_worker_options

    settings = Settings()
    options = (
        ctl_worker_options(settings) if queue is WorkerQueue.CTL else gpu_worker_options(settings)
    )
    Worker(burst=burst, **options).run()
