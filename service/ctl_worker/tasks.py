"""The ctl worker's tasks: file and job validation, webhook delivery, the reconciler and sweeps."""

from __future__ import annotations

from typing import Any

from arq import Retry, cron
from arq.worker import func

from service.ctl_worker.context import CtlWorkerContext
from service.jobs.validation_step import FilesNotReady
from service.queue.arq_worker import takes_context, worker_options
from service.queue.names import QueueName, TaskName
from service.settings import Settings

CTL_TASK_TIMEOUT_S = 600
FILE_WAIT_RETRY_S = 2
MAX_VALIDATION_TRIES = 900  # ~30 min of waiting for files still being validated

ctl_task = takes_context(CtlWorkerContext)


@ctl_task
async def validate_file(ctl: CtlWorkerContext, file_id: str) -> None:
    """Validate a stored fine-tune file's content."""
    await ctl.file_validator.validate(file_id)


@ctl_task
async def validate_job(ctl: CtlWorkerContext, job_id: str) -> None:
    """Move a job from ``validating_files`` to ``queued`` or ``failed``."""
    try:
        await ctl.job_validation.validate(job_id)
    except FilesNotReady:
        raise Retry(defer=FILE_WAIT_RETRY_S) from None


@ctl_task
async def deliver_webhook(
    ctl: CtlWorkerContext, delivery_id: str, attempt: int | None = None
) -> None:
    """Make attempt ``attempt`` of a delivery; the next attempt, if any, is queued by it."""
    await ctl.webhooks.deliver(delivery_id, attempt)


@ctl_task
async def reconcile(ctl: CtlWorkerContext) -> None:
    """Rebuild what Redis lost from the database (cron)."""
    await ctl.reconciler.run_once()
    await ctl.webhooks.requeue_overdue()


@ctl_task
async def sweep(ctl: CtlWorkerContext) -> None:
    """Expire stale uploads and expired files; clear writes abandoned by dead writers and the
    uploads of training attempts that never published them (cron)."""
    resources = ctl.resources
    await ctl.uploads.sweep()
    await ctl.files.delete_expired()
    await resources.blobs.sweep_abandoned(resources.settings.storage.abandoned_write_s)
    await ctl.pending_blob_sweeper.run_once()


@ctl_task
async def reap_model_blobs(ctl: CtlWorkerContext) -> None:
    """Delete the blobs of models deleted longer ago than their grace period (cron)."""
    await ctl.model_blob_reaper.run_once()


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
    return worker_options(settings, QueueName.CTL, lambda: CtlWorkerContext.open(settings)) | {
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
        "max_jobs": 8,
        "job_timeout": CTL_TASK_TIMEOUT_S,
    }
