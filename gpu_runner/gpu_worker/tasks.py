"""The gpu worker: one training attempt at a time per GPU set."""

from __future__ import annotations

import importlib
from typing import Any

from arq import Retry
from arq.worker import func

from gpu_runner.gpu_worker.attempts import JobRunner, RunnerBusy, RunnerSettings
from service.jobs.trainer_contract import Trainer
from service.queue.names import QueueName, TaskName
from service.settings import Settings
from service.worker.common import arq_options, start_runtime, stop_runtime

BUSY_RETRY_S = 15
# Attempts are counted on the job row (reconciler, max_attempts); arq's own count only guards
# against a task that keeps bouncing, such as waiting for the project's running-jobs quota.
MAX_TASK_TRIES = 10_000


def load_trainer(import_path: str | None) -> Trainer:
    """Instantiate the configured ``Trainer`` class (``module:attribute``)."""
    if not import_path:
        raise RuntimeError(
            "No trainer is configured: set FTAPI_TRAINER__IMPORT_PATH to 'module:Class'."
        )
    module_name, _, attribute = import_path.partition(":")
    trainer_class = getattr(importlib.import_module(module_name), attribute)
    trainer: Trainer = trainer_class()
    return trainer


async def _startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    trainer = load_trainer(settings.trainer.import_path)
    runtime = await start_runtime(ctx)
    ctx["runner"] = JobRunner(
        runtime.jobs_store,
        runtime.jobs,
        runtime.projects,
        runtime.files,
        runtime.blobs,
        runtime.registry,
        runtime.model_files,
        runtime.fine_tuned_models,
        runtime.model_access,
        trainer,
        runtime.clock,
        RunnerSettings(
            heartbeat_interval_s=settings.jobs.heartbeat_interval_s,
            max_running_per_project=settings.jobs.max_running_jobs_per_project,
            checkpoints_kept=settings.jobs.checkpoints_kept,
        ),
    )


async def train(ctx: dict[str, Any], job_id: str) -> None:
    """Run the job's next training attempt."""
    runner: JobRunner = ctx["runner"]
    try:
        await runner.run(job_id)
    except RunnerBusy:
        raise Retry(defer=BUSY_RETRY_S) from None


def gpu_worker_options(settings: Settings) -> dict[str, Any]:
    """``arq.Worker`` keyword arguments for the gpu queue."""
    return arq_options(settings, QueueName.GPU) | {
        "functions": [
            func(
                train,
                name=TaskName.TRAIN.value,
                timeout=settings.jobs.training_timeout_s,
                max_tries=MAX_TASK_TRIES,
            )
        ],
        "on_startup": _startup,
        "on_shutdown": stop_runtime,
        "max_jobs": 1,
        "job_timeout": settings.jobs.training_timeout_s,
        # SIGTERM cancels the attempt at once (no job_completion_wait: a training run would not
        # finish in any grace period); the attempt checkpoints and hands the job back while
        # arq's close() waits for it.
    }
