"""The ctl worker's tasks: file and job validation, webhook delivery, eval runs, the reconciler
and sweeps.

Each is registered through ``service/queue/task_policy.py``: outages are retried with backoff,
anything else gives the task up, and its ``give_up`` partner ends the object in its error state.
"""

from __future__ import annotations

from typing import Any

from arq import Retry

from service.ctl_worker.context import CtlWorkerContext
from service.evals.execution.runner import RunBusy
from service.jobs.validation_step import FilesNotReady
from service.queue.arq_worker import worker_options
from service.queue.names import QueueName, TaskName
from service.queue.task_policy import cron_task, task
from service.settings import Settings

CTL_TASK_TIMEOUT_S = 600
FILE_WAIT_RETRY_S = 2
MAX_VALIDATION_TRIES = 900  # ~30 min of waiting for files still being validated
# A run's attempts are counted on its row (the reconciler, max_attempts); arq's count only
# bounds a task that keeps waiting for its project's running-runs limit.
MAX_EVAL_TRIES = 10_000


async def validate_file(ctl: CtlWorkerContext, file_id: str) -> None:
    """Validate a stored fine-tune file's content."""
    await ctl.file_validator.validate(file_id)


async def fail_file(ctl: CtlWorkerContext, file_id: str) -> None:
    """``validate_file`` was given up: the file ends in ``error``."""
    await ctl.file_validator.give_up(file_id)


async def validate_job(ctl: CtlWorkerContext, job_id: str) -> None:
    """Move a job from ``validating_files`` to ``queued`` or ``failed``."""
    try:
        await ctl.job_validation.validate(job_id)
    except FilesNotReady:
        raise Retry(defer=FILE_WAIT_RETRY_S) from None


async def fail_job(ctl: CtlWorkerContext, job_id: str) -> None:
    """``validate_job`` was given up: the job fails with ``internal_error``."""
    await ctl.job_validation.give_up(job_id)


async def deliver_webhook(
    ctl: CtlWorkerContext, delivery_id: str, attempt: int | None = None
) -> None:
    """Make attempt ``attempt`` of a delivery; the next attempt, if any, is queued by it."""
    await ctl.webhooks.deliver(delivery_id, attempt)


async def fail_delivery(
    ctl: CtlWorkerContext, delivery_id: str, attempt: int | None = None
) -> None:
    """``deliver_webhook`` was given up: the delivery ends ``failed``."""
    await ctl.webhooks.give_up(delivery_id)


async def run_eval(ctl: CtlWorkerContext, run_id: str, attempt: int) -> None:
    """Execute attempt ``attempt`` of an eval run (``service/evals/execution``)."""
    try:
        await ctl.evals.runner.run(run_id, attempt)
    except RunBusy:
        raise Retry(defer=ctl.resources.settings.evals.busy_retry_s) from None


async def fail_eval_run(ctl: CtlWorkerContext, run_id: str, attempt: int) -> None:
    """``run_eval`` was given up: the run fails with ``internal_error``."""
    await ctl.evals.runner.give_up(run_id, attempt)


async def reconcile(ctl: CtlWorkerContext) -> int:
    """Rebuild what Redis lost from the database (cron); returns the rows it gave up on."""
    await ctl.reconciler.run_once()
    await ctl.webhooks.requeue_overdue()
    await ctl.evals.reconciler.run_once()
    return ctl.reconciler.poisoned.take_given_up() + ctl.evals.reconciler.poisoned.take_given_up()


async def sweep(ctl: CtlWorkerContext) -> int:
    """Expire stale uploads and expired files; clear writes abandoned by dead writers and the
    uploads of training attempts that never published them (cron, ``sweep.py``); returns the
    rows and steps it gave up on."""
    return await ctl.sweep.run_once()


async def reap_model_blobs(ctl: CtlWorkerContext) -> int:
    """Delete the blobs of models deleted longer ago than their grace period (cron); returns
    the models it gave up on."""
    await ctl.model_blob_reaper.run_once()
    return ctl.model_blob_reaper.poisoned.take_given_up()


def ctl_worker_options(settings: Settings) -> dict[str, Any]:
    """``arq.Worker`` keyword arguments for the ctl queue."""
    every = settings.jobs.reconcile_interval_s
    reconcile_seconds = set(range(0, 60, every)) if every < 60 else {0}
    tries = settings.jobs.max_task_attempts
    ctl = CtlWorkerContext
    functions = [
        task(
            ctl,
            TaskName.VALIDATE_FILE,
            validate_file,
            give_up=fail_file,
            max_tries=tries,
            timeout_s=CTL_TASK_TIMEOUT_S,
        ),
        task(
            ctl,
            TaskName.VALIDATE_JOB,
            validate_job,
            give_up=fail_job,
            max_tries=max(MAX_VALIDATION_TRIES, tries),
            timeout_s=CTL_TASK_TIMEOUT_S,
        ),
        # A delivery's own attempts are counted on its row (service/webhooks/delivery.py); these
        # tries only ride out outages around one attempt.
        task(
            ctl,
            TaskName.DELIVER_WEBHOOK,
            deliver_webhook,
            give_up=fail_delivery,
            max_tries=tries,
            timeout_s=60,
        ),
        task(
            ctl,
            TaskName.RUN_EVAL,
            run_eval,
            give_up=fail_eval_run,
            max_tries=MAX_EVAL_TRIES,
            timeout_s=settings.evals.run_timeout_s,
        ),
    ]
    return worker_options(settings, QueueName.CTL, lambda: CtlWorkerContext.open(settings)) | {
        "functions": functions,
        "cron_jobs": [
            cron_task(ctl, TaskName.RECONCILE, reconcile, timeout_s=120, second=reconcile_seconds),
            # These two at the reconciler's pace; a pass with nothing due is a few small queries
            # (and, on S3, one listing of multipart uploads).
            cron_task(ctl, TaskName.SWEEP, sweep, timeout_s=300, second=reconcile_seconds),
            cron_task(
                ctl,
                TaskName.REAP_MODEL_BLOBS,
                reap_model_blobs,
                timeout_s=300,
                second=reconcile_seconds,
            ),
        ],
        "max_jobs": 8,
        "job_timeout": CTL_TASK_TIMEOUT_S,
    }
