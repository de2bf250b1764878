"""The gpu worker: one training attempt (or one merged export) at a time per GPU set."""

from __future__ import annotations

from typing import Any

from arq import Retry

from gpu_runner.gpu_worker.attempts import RunnerBusy
from gpu_runner.gpu_worker.context import GpuWorkerContext
from service.models.merged_exports import BUILD_TIMEOUT_S
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


async def export_merged(
    gpu: GpuWorkerContext, project_id: str, model_id: str, attempt: int
) -> None:
    """Build attempt ``attempt`` of a model's merged export (``merged_export``)."""
    await gpu.exports.build(project_id, model_id, attempt)


async def fail_export(gpu: GpuWorkerContext, project_id: str, model_id: str, attempt: int) -> None:
    """``export_merged`` was given up: the export fails with ``internal_error``."""
    await gpu.exports.give_up(project_id, model_id, attempt)


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
            ),
            task(
                GpuWorkerContext,
                TaskName.EXPORT_MERGED,
                export_merged,
                give_up=fail_export,
                max_tries=settings.jobs.max_task_attempts,
                timeout_s=BUILD_TIMEOUT_S,
            ),
        ],
        "max_jobs": 1,
        "job_timeout": timeout_s,
        # SIGTERM cancels the attempt at once (no job_completion_wait: a training run would not
        # finish in any grace period); the attempt checkpoints and hands the job back while
        # arq's close() waits for it.
    }
