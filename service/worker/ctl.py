"""The ctl worker: file and job validation, webhook delivery, the reconciler and sweeps."""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry, cron
from arq.worker import func

from service.jobs.reconciler import Reconciler
from service.jobs.validation_step import FilesNotReady, JobValidation
from service.models.reaper import ExpiredModelStore, ModelBlobReaper
from service.queue.names import QueueName, TaskName
from service.runtime import Runtime
from service.settings import Settings
from service.webhooks.tasks import deliver_webhook
from service.worker.common import arq_options, start_runtime, stop_runtime

logger = logging.getLogger(__name__)

CTL_TASK_TIMEOUT_S = 600
FILE_WAIT_RETRY_S = 2
MAX_VALIDATION_TRIES = 900  # ~30 min of waiting for files still being validated


async def _startup(ctx: dict[str, Any]) -> None:
    runtime = await start_runtime(ctx)
    jobs_settings = runtime.settings.jobs
    ctx["validation"] = JobValidation(
        runtime.jobs_store, runtime.jobs, runtime.projects, runtime.preflight, runtime.clock
    )
    ctx["reconciler"] = Reconciler(
        runtime.jobs_store,
        runtime.jobs,
        runtime.file_store,
        runtime.queue,
        runtime.clock,
        stale_heartbeat_s=jobs_settings.stale_heartbeat_s,
        max_attempts=jobs_settings.max_attempts,
    )
    ctx["model_blob_reaper"] = ModelBlobReaper(
        ExpiredModelStore(runtime.sessions),
        runtime.blobs,
        runtime.clock,
        grace_s=runtime.settings.models.deleted_blob_grace_s,
    )


async def validate_file(ctx: dict[str, Any], file_id: str) -> None:
    """Validate a stored fine-tune file's content."""
    runtime: Runtime = ctx["runtime"]
    await runtime.file_validator.validate(file_id)


async def validate_job(ctx: dict[str, Any], job_id: str) -> None:
    """Move a job from ``validating_files`` to ``queued`` or ``failed``."""
    validation: JobValidation = ctx["validation"]
    try:
        await validation.validate(job_id)
    except FilesNotReady:
        raise Retry(defer=FILE_WAIT_RETRY_S) from None


async def reconcile(ctx: dict[str, Any]) -> None:
    """Rebuild what Redis lost from the database (cron)."""
    reconciler: Reconciler = ctx["reconciler"]
    await reconciler.run_once()
    runtime: Runtime = ctx["runtime"]
    await runtime.webhooks.requeue_overdue()


async def sweep(ctx: dict[str, Any]) -> None:
    """Expire stale uploads and expired files; clear writes abandoned by dead writers (cron)."""
    runtime: Runtime = ctx["runtime"]
    await runtime.uploads.sweep()
    await runtime.files.delete_expired()
    await runtime.blobs.sweep_abandoned(runtime.settings.storage.abandoned_write_s)


async def reap_model_blobs(ctx: dict[str, Any]) -> None:
    """Delete the blobs of models deleted longer ago than their grace period (cron)."""
    reaper: ModelBlobReaper = ctx["model_blob_reaper"]
    await reaper.run_once()


def ctl_worker_options(settings: Settings) -> dict[str, Any]:
    """``arq.Worker`` keyword arguments for the ctl queue."""
    every = settings.jobs.reconcile_interval_s
    reconcile_seconds = set(range(0, 60, every)) if every < 60 else {0}
    functions: list[Any] = [
        func(validate_file, name=TaskName.VALIDATE_FILE.value, timeout=CTL_TASK_TIMEOUT_S),
        func(
            validate_job,
            name=TaskName.VALIDATE_JOB.value,
            timeout=CTL_TASK_TIMEOUT_S,
            max_tries=MAX_VALIDATION_TRIES,
        ),
        func(deliver_webhook, name=TaskName.DELIVER_WEBHOOK.value, timeout=60, max_tries=1),
    ]
    return arq_options(settings, QueueName.CTL) | {
        "functions": functions,
        "cron_jobs": [
            cron(reconcile, name=TaskName.RECONCILE.value, second=reconcile_seconds, timeout=120),
            cron(sweep, name=TaskName.SWEEP.value, second={5}, timeout=300),
            # At the reconciler's pace; a pass with nothing due is one small query.
            cron(
                reap_model_blobs,
                name=TaskName.REAP_MODEL_BLOBS.value,
                second=reconcile_seconds,
                timeout=300,
            ),
        ],
        "on_startup": _startup,
        "on_shutdown": stop_runtime,
        "max_jobs": 8,
        "job_timeout": CTL_TASK_TIMEOUT_S,
    }
