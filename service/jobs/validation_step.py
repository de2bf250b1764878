"""The ctl-queue step that takes a job from ``validating_files`` to ``queued`` or ``failed``."""

from __future__ import annotations

from service.auth.store import ProjectStore
from service.blobstore import BlobStoreFull
from service.clock import Clock, to_seconds
from service.datasets.validation.line_crash import LineCrashed
from service.jobs import messages
from service.jobs.internal_failure import fail_with_internal_error, fail_with_storage_full
from service.jobs.preflight import JobPreflight
from service.jobs.records import JobError, JobRecord, JobRequest
from service.jobs.service import JobService
from service.jobs.state_machine import JobStatus
from service.jobs.store import JobStore


class FilesNotReady(Exception):
    """A file of the job is still being validated."""


class JobValidation:
    """Runs the preflight checks on a stored job and moves it on."""

    def __init__(
        self,
        store: JobStore,
        jobs: JobService,
        projects: ProjectStore,
        preflight: JobPreflight,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._store = store
        self._jobs = jobs
        self._projects = projects
        self._preflight = preflight

    async def validate(self, job_id: str) -> None:
        """Validate the job if it still awaits validation (at-least-once delivery is fine)."""
        job = await self._store.get_any(job_id)
        if job is None or job.status is not JobStatus.VALIDATING_FILES:
            return
        caller = await self._projects.system_caller(job.project_id)
        if caller is None:
            return
        try:
            result = await self._preflight.check(caller, _request_of(job))
        except (LineCrashed, BlobStoreFull) as failure:
            # The task gives up on these, but only here is it known what to tell the user; the
            # task policy still logs and counts the failure, and ``give_up`` finds the job ended.
            await self._fail_on(job_id, failure)
            raise
        if any(problem.code == "file_not_ready" for problem in result.problems):
            raise FilesNotReady(job_id)
        if result.problems:
            first = result.problems[0]
            failed = await self._store.transition(
                job.id,
                JobStatus.VALIDATING_FILES,
                JobStatus.FAILED,
                messages.failed(first.message),
                error=JobError(code=first.code, message=first.message, param=first.param),
                finished_at=to_seconds(self._clock.now_us()),
            )
            if failed is not None:
                await self._jobs.notify_finished(failed)
            return
        assert result.method is not None  # noqa: S101 - set whenever no problem is
        queued = await self._store.transition(
            job.id,
            JobStatus.VALIDATING_FILES,
            JobStatus.QUEUED,
            messages.files_validated(),
            method=result.method,
            learning_rate=result.learning_rate,
        )
        if queued is not None:
            await self._jobs.enqueue_training(queued)

    async def give_up(self, job_id: str) -> None:
        """Fail a job whose validation task was given up (``internal_error``)."""
        await fail_with_internal_error(
            self._store, self._jobs, self._clock, job_id, step="Job validation"
        )

    async def _fail_on(self, job_id: str, failure: LineCrashed | BlobStoreFull) -> None:
        if isinstance(failure, BlobStoreFull):
            await fail_with_storage_full(
                self._store, self._jobs, self._clock, job_id, step="Job validation"
            )
        else:
            await fail_with_internal_error(
                self._store, self._jobs, self._clock, job_id, step="Job validation", crash=failure
            )


def _request_of(job: JobRecord) -> JobRequest:
    """The job as a request again (what the preflight checks take)."""
    return JobRequest(
        model=job.model,
        training_file=job.training_file,
        validation_file=job.validation_file,
        suffix=job.suffix,
        seed=job.seed,
        method=job.method,
        integrations=job.integrations,
        metadata=job.metadata,
    )
