"""The gpu worker: one training attempt at a time per GPU set."""

from __future__ import annotations

from typing import Any

from arq import Retry

from gpu_runner.gpu_worker.attempts import RunnerBusy
from gpu_runner.gpu_worker.context import GpuWorkerContext
from service.queue.arq_worker import worker_options
from service.queue.names import QueueName, TaskName
from service.queue.task_policy import task
from service.settings import Settings

BUSY_RETRY_S = 15
# Attempts are counted on the job row (reconciler, max_attempts); arq's own count only guards
# against a task that keeps bouncing, such as waiting for the project's running-jobs quota.
MAX_TASK_TRIES = 10_000


async def train(gpu: GpuWorkerContext, job_id: str) -> None:
    """Run the job's next training attempt."""
    try:
        await gpu.runner.run(job_id)
    except RunnerBusy:
        raise Retry(defer=BUSY_RETRY_S) from None


async def fail_training(gpu: GpuWorkerContext, job_id: str) -> None:
    """``train`` was given up: the job fails with ``internal_error``."""
    await gpu.runner.give_up(job_id)


def gpu_worker_options(settings: Settings) -> dict[str, Any]:
    """``arq.Worker`` keyword arguments for the gpu queue."""
    timeout_s = settings.jobs.training_timeout_s
    return worker_options(settings, QueueName.GPU, lambda: GpuWorkerContext.open(settings)) | {
        "functions": [
            task(
                GpuWorkerContext,
                TaskName.TRAIN,
                train,
                give_up=fail_training,
                max_tries=MAX_TASK_TRIES,
                timeout_s=timeout_s,
            )
        ],
        "max_jobs": 1,
        "job_timeout": timeout_s,
        # SIGTERM cancels the attempt at once (no job_completion_wait: a training run would not
        # finish in any grace period); the attempt checkpoints and hands the job back while
        # arq's close() waits for it.
    }
