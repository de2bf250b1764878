"""The reconciler: makes Redis agree with the database again (cron on the ctl queue).

Redis is transport only. Whatever it lost (a flush, a restart without persistence, an enqueue
that failed while it was away) is rebuilt from the rows: files still awaiting validation, jobs
validating or queued without a task, and running jobs whose runner stopped beating (re-queued
to resume from their latest checkpoint, or failed with ``runner_lost`` after too many attempts).

Each row is handled on its own (``queue/poisoned_rows.py``): one whose repair raises a bug is
logged, counted and skipped from then on, and the rows after it are still repaired (even when
more rows than a batch were given up on).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.clock import Clock, to_seconds
from service.files.store import FileStore
from service.jobs import messages
from service.jobs.records import JobError, JobRecord
from service.jobs.service import JobService
from service.jobs.state_machine import JobStatus
from service.jobs.store import JobStore
from service.queue.names import (
    QueueName,
    TaskName,
    train_key,
    validate_file_key,
    validate_job_key,
)
from service.queue.poisoned_rows import PoisonedRows
from service.queue.protocol import TaskQueue

logger = logging.getLogger(__name__)

BATCH = 1000


@dataclass(frozen=True)
class ReconcileReport:
    """What one pass repaired."""

    files_enqueued: int = 0
    validations_enqueued: int = 0
    trainings_enqueued: int = 0
    requeued: int = 0
    lost: int = 0


class Reconciler:
    """One pass at a time; safe to run on several ctl workers (every action is idempotent)."""

    def __init__(
        self,
        jobs_store: JobStore,
        jobs: JobService,
        files_store: FileStore,
        queue: TaskQueue,
        clock: Clock,
        *,
        stale_heartbeat_s: float,
        max_attempts: int,
    ) -> None:
        self._jobs_store = jobs_store
        self._jobs = jobs
        self._files_store = files_store
        self._queue = queue
        self._clock = clock
        self._stale_heartbeat_us = int(stale_heartbeat_s * 1_000_000)
        self._max_attempts = max_attempts
        self.poisoned = PoisonedRows(TaskName.RECONCILE)

    async def run_once(self) -> ReconcileReport:
        """Repair everything found now (but the rows an earlier pass gave up on)."""
        poisoned = self.poisoned
        files = 0
        waiting = await poisoned.fetch_fresh(
            self._files_store.awaiting_validation, _file_id, limit=BATCH
        )
        for _, file_id in waiting:
            async with poisoned.handling(file_id):
                files += await self._queue.enqueue(
                    TaskName.VALIDATE_FILE,
                    file_id,
                    queue=QueueName.CTL,
                    key=validate_file_key(file_id),
                )
        validations = 0
        validating = await self._in_status(JobStatus.VALIDATING_FILES)
        for job in validating:
            async with poisoned.handling(job.id):
                validations += await self._queue.enqueue(
                    TaskName.VALIDATE_JOB, job.id, queue=QueueName.CTL, key=validate_job_key(job.id)
                )
        trainings = 0
        queued = await self._in_status(JobStatus.QUEUED)
        for job in queued:
            async with poisoned.handling(job.id):
                trainings += await self._queue.enqueue(
                    TaskName.TRAIN,
                    job.id,
                    queue=QueueName.GPU,
                    key=train_key(job.id, job.attempt + 1),
                )
        requeued = lost = 0
        now_us = self._clock.now_us()
        running = await self._in_status(JobStatus.RUNNING)
        for job in running:
            last_sign = job.heartbeat_us or job.created_us
            if now_us - last_sign < self._stale_heartbeat_us:
                continue
            async with poisoned.handling(job.id):
                if not await self._recover(job, now_us):
                    continue
                if job.attempt >= self._max_attempts:
                    lost += 1
                else:
                    requeued += 1
        report = ReconcileReport(files, validations, trainings, requeued, lost)
        if any(vars(report).values()):
            logger.info("reconciled", extra=vars(report))
        return report

    async def _in_status(self, status: JobStatus) -> list[JobRecord]:
        return await self.poisoned.fetch_fresh(
            lambda limit: self._jobs_store.in_statuses([status], limit), _job_id, limit=BATCH
        )

    async def _recover(self, job: JobRecord, now_us: int) -> bool:
        """Requeue a running job whose runner stopped beating, or fail it with ``runner_lost``
        after too many attempts; False when another actor moved it first."""
        await self._queue.release_claim(train_key(job.id, job.attempt))
        if job.attempt >= self._max_attempts:
            failed = await self._jobs_store.transition(
                job.id,
                JobStatus.RUNNING,
                JobStatus.FAILED,
                messages.failed("the training runner was lost too many times"),
                expected_attempt=job.attempt,
                error=JobError(
                    code="runner_lost",
                    message=f"The training runner stopped responding {job.attempt} times; "
                    "the job was given up. Retry it, or contact the operators.",
                ),
                finished_at=to_seconds(now_us),
                estimated_finish=None,
            )
            if failed is not None:
                await self._jobs.notify_finished(failed)
            return failed is not None
        back = await self._jobs_store.transition(
            job.id,
            JobStatus.RUNNING,
            JobStatus.QUEUED,
            messages.requeued("the training runner stopped responding"),
            expected_attempt=job.attempt,
            heartbeat_us=None,
            estimated_finish=None,
        )
        if back is not None:
            await self._jobs.enqueue_training(back)
        return back is not None


def _job_id(job: JobRecord) -> str:
    return job.id


def _file_id(row: tuple[str, str]) -> str:
    return row[1]  # rows are (project_id, file_id)
