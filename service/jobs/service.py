"""Fine-tuning jobs as callers see them: create (checked at once), list, read, cancel, pause,
resume. Work happens on the queues; this module only records intent and enqueues."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Protocol

from service.auth.caller import Caller
from service.clock import Clock, to_seconds
from service.datasets.service import DatasetService
from service.datasets.validation.formats import DatasetFormat, formats_for_method
from service.errors import Conflict, InvalidRequest, NotFound, RateLimited
from service.ids import IdPrefix, new_id
from service.jobs import messages
from service.jobs.evaluation import JobEvaluation, best_step
from service.jobs.methods import MethodSpec
from service.jobs.records import CheckpointRecord, JobEvent, JobRecord, JobRequest
from service.jobs.state_machine import JobStatus
from service.jobs.store import JobStore
from service.models.access import ModelAccess
from service.pagination import Page, require_page_limit
from service.queue.names import QueueName, TaskName, train_key, validate_job_key
from service.queue.protocol import TaskQueue

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = (
    JobStatus.VALIDATING_FILES,
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.PAUSED,
)
MAX_SEED = 2_147_483_647
QUOTA_RETRY_AFTER_S = 60


class JobNotifier(Protocol):
    """Told when a job reaches a terminal state (webhooks)."""

    async def job_finished(self, job: JobRecord) -> None: ...


@dataclass(frozen=True)
class JobQuotas:
    """Per-project limits."""

    max_active: int
    max_running: int


class JobService:
    """The Jobs API's rules over the job store and the task queue."""

    def __init__(
        self,
        store: JobStore,
        queue: TaskQueue,
        access: ModelAccess,
        datasets: DatasetService,
        clock: Clock,
        quotas: JobQuotas,
        notifier: JobNotifier | None = None,
    ) -> None:
        self._store = store
        self._queue = queue
        self._access = access
        self._datasets = datasets
        self._clock = clock
        self._quotas = quotas
        self._notifier = notifier

    async def create(
        self,
        caller: Caller,
        request: JobRequest,
        *,
        request_hash: str,
        idempotency_key: str | None = None,
    ) -> JobRecord:
        """Check the request, store the job in ``validating_files`` and queue its validation.

        ``request_hash`` fingerprints the request as sent: an ``idempotency_key`` used again
        with another one is refused.
        """
        if idempotency_key is not None:
            found = await self._store.by_idempotency_key(caller.project_id, idempotency_key)
            if found is not None:
                job, stored_hash = found
                if stored_hash != request_hash:
                    raise Conflict(
                        "This Idempotency-Key was already used with a different request body.",
                        param="Idempotency-Key",
                        code="idempotency_key_reused",
                    )
                return job
        method = await self._check(caller, request)
        active = await self._store.count_by_status(caller.project_id, ACTIVE_STATUSES)
        if active >= self._quotas.max_active:
            raise RateLimited(
                f"This project already has {active} active fine-tuning jobs, the limit is "
                f"{self._quotas.max_active}. Wait for one to finish or cancel one.",
                code="too_many_active_jobs",
                retry_after_s=QUOTA_RETRY_AFTER_S,
            )
        job = _new_job(caller, request, method, self._clock.now_us())
        try:
            await self._store.insert(
                job,
                [
                    messages.created(job.id),
                    messages.validating(job.training_file, job.validation_file),
                ],
                idempotency_key=idempotency_key,
                request_hash=request_hash,
            )
        except Exception:
            if idempotency_key is not None:  # a concurrent create with the same key won
                found = await self._store.by_idempotency_key(caller.project_id, idempotency_key)
                if found is not None and found[1] == request_hash:
                    return found[0]
            raise
        await self._enqueue_quietly(
            TaskName.VALIDATE_JOB, job.id, QueueName.CTL, validate_job_key(job.id)
        )
        return job

    async def get(self, caller: Caller, job_id: str) -> JobRecord:
        """The caller's job; 404 for missing and foreign ids alike."""
        job = await self._store.get(caller.project_id, job_id)
        if job is None:
            raise NotFound(
                f"Could not find fine tune: {job_id}",
                param="fine_tune_id",
                code="fine_tune_not_found",
            )
        return job

    async def list_jobs(
        self, caller: Caller, *, after: str | None, limit: int, metadata: dict[str, str]
    ) -> Page[JobRecord]:
        """Newest first, filtered by metadata pairs."""
        require_page_limit(limit)
        return await self._store.list_page(
            caller.project_id, after_id=after, limit=limit, metadata=metadata
        )

    async def events(
        self, caller: Caller, job_id: str, *, after: str | None, limit: int
    ) -> Page[JobEvent]:
        """A page of the job's events, newest first."""
        require_page_limit(limit)
        await self.get(caller, job_id)
        return await self._store.events_page(job_id, after_id=after, limit=limit)

    async def events_since(self, caller: Caller, job_id: str, after: str | None) -> list[JobEvent]:
        """Events newer than ``after``, oldest first (for the live stream)."""
        return await self._store.events_since(job_id, after, limit=500)

    async def checkpoints(
        self, caller: Caller, job_id: str, *, after: str | None, limit: int
    ) -> tuple[Page[CheckpointRecord], int | None]:
        """A page of the job's checkpoints, newest first, and the step of its best checkpoint
        (by the job's selection metric; None when no checkpoint has that metric)."""
        require_page_limit(limit)
        job = await self.get(caller, job_id)
        page = await self._store.checkpoints_page(job_id, after_id=after, limit=limit)
        metric = (job.evaluation or JobEvaluation()).selection_metric
        best = best_step(await self._store.checkpoint_metrics(job_id), metric)
        return page, best

    async def cancel(self, caller: Caller, job_id: str) -> JobRecord:
        """Cancel a job that has not finished; a running runner stops at its next heartbeat."""
        while True:
            job = await self.get(caller, job_id)
            if job.status.is_terminal:
                raise InvalidRequest(
                    f"Job {job_id} has already {job.status.value}; it cannot be cancelled.",
                    param="fine_tune_id",
                    code="job_not_cancellable",
                )
            done = await self._store.transition(
                job.id,
                job.status,
                JobStatus.CANCELLED,
                messages.cancelled(),
                finished_at=to_seconds(self._clock.now_us()),
                estimated_finish=None,
            )
            if done is not None:
                await self._queue.abort(validate_job_key(job.id))
                await self._queue.abort(train_key(job.id, job.attempt + 1))
                await self._queue.abort(train_key(job.id, job.attempt))
                await self.notify_finished(done)
                return done

    async def pause(self, caller: Caller, job_id: str) -> JobRecord:
        """Pause a queued or running job; the runner saves a checkpoint and releases the GPU."""
        while True:
            job = await self.get(caller, job_id)
            if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
                raise InvalidRequest(
                    f"Job {job_id} is {_visible(job.status)}; only queued or running jobs can "
                    "be paused.",
                    param="fine_tune_id",
                    code="job_not_pausable",
                )
            done = await self._store.transition(
                job.id, job.status, JobStatus.PAUSED, messages.paused(), estimated_finish=None
            )
            if done is not None:
                return done

    async def resume(self, caller: Caller, job_id: str) -> JobRecord:
        """Queue a paused job again; training continues from its latest checkpoint."""
        job = await self.get(caller, job_id)
        if job.status is not JobStatus.PAUSED:
            raise InvalidRequest(
                f"Job {job_id} is {_visible(job.status)}; only paused jobs can be resumed.",
                param="fine_tune_id",
                code="job_not_paused",
            )
        done = await self._store.transition(
            job.id, JobStatus.PAUSED, JobStatus.QUEUED, messages.resumed()
        )
        if done is None:
            return await self.get(caller, job_id)
        await self.enqueue_training(done)
        return done

    async def enqueue_training(self, job: JobRecord) -> None:
        """Queue the job's next training attempt (deduplicated per attempt)."""
        await self._enqueue_quietly(
            TaskName.TRAIN, job.id, QueueName.GPU, train_key(job.id, job.attempt + 1)
        )

    async def notify_finished(self, job: JobRecord) -> None:
        """Tell the notifier (webhooks) about a terminal job; never fails the caller."""
        if self._notifier is None:
            return
        try:
            await self._notifier.job_finished(job)
        except Exception:
            logger.exception("could not notify about a finished job", extra={"job_id": job.id})

    async def _check(self, caller: Caller, request: JobRequest) -> MethodSpec:
        """The request's method, if a job with it can be created; else the error to answer."""
        method = request.method
        if not isinstance(method, MethodSpec):
            raise InvalidRequest(
                "Reinforcement fine-tuning is not supported; use method.type 'supervised' or "
                "'dpo'.",
                param="method.type",
                code="unsupported_method",
            )
        # A base model, or a fine-tuned model or checkpoint the project owns or was granted.
        await self._access.trainable_base(caller.project_id, request.model)
        allowed = formats_for_method(method.type)
        files = [("training_file", request.training_file)]
        if request.validation_file is not None:
            files.append(("validation_file", request.validation_file))
        for param, file_id in files:
            try:
                record = await self._datasets.training_file(caller, file_id, param=param)
            except NotFound as exc:
                raise InvalidRequest(f"invalid {param}: {file_id}", param=param) from exc
            if record.data_format is not None and DatasetFormat(record.data_format) not in allowed:
                raise InvalidRequest(
                    f"File {file_id} is in the {record.data_format} format, but the job's method "
                    f"is '{method.type}', which takes "
                    f"{' or '.join(sorted(f.value for f in allowed))} data.",
                    param=param,
                    code="format_mismatch",
                )
        return method

    async def _enqueue_quietly(
        self, task: TaskName, job_id: str, queue: QueueName, key: str
    ) -> None:
        # The job row is the source of truth: if Redis is away now, the reconciler enqueues it.
        try:
            await self._queue.enqueue(task, job_id, queue=queue, key=key)
        except Exception:
            logger.warning(
                "could not enqueue %s; the reconciler will", task.value, extra={"job_id": job_id}
            )


def _visible(status: JobStatus) -> str:
    return status.value.replace("_", " ")


def _new_job(caller: Caller, request: JobRequest, method: MethodSpec, now_us: int) -> JobRecord:
    return JobRecord(
        id=new_id(IdPrefix.JOB),
        project_id=caller.project_id,
        organization_id=caller.organization_id,
        model=request.model,
        training_file=request.training_file,
        validation_file=request.validation_file,
        suffix=request.suffix,
        seed=request.seed if request.seed is not None else secrets.randbelow(MAX_SEED),
        method=method,
        integrations=request.integrations,
        metadata=request.metadata,
        evaluation=request.evaluation,
        status=JobStatus.VALIDATING_FILES,
        created_at=to_seconds(now_us),
        created_us=now_us,
    )
