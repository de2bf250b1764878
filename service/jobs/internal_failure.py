"""Ending a job whose background task was given up: ``failed`` with a code the user can act on.

the task gave up on ...                    the job's error
─────────────────────────────────────────  ───────────────────────────────────────────────
a bug at a known line of one of its files  ``internal_error`` naming the file and line
any other bug, or too many tries           ``internal_error``, with the job id to report
a full blob store                          ``storage_full``
"""

from __future__ import annotations

from service.clock import Clock, to_seconds
from service.datasets.validation.line_crash import LineCrashed
from service.jobs import messages
from service.jobs.records import JobError, JobRecord
from service.jobs.service import JobService
from service.jobs.state_machine import JobStatus, can_transition
from service.jobs.store import JobStore

_RACES = 3  # another actor moving the job meanwhile; each lost race re-reads it


async def fail_with_internal_error(
    store: JobStore,
    jobs: JobService,
    clock: Clock,
    job_id: str,
    *,
    step: str,
    crash: LineCrashed | None = None,
) -> JobRecord | None:
    """Fail the job from whatever unfinished state it is in; ``step`` names what broke
    ("Job validation", "The training task"), ``crash`` where in its files, when known. None
    when it finished (or was paused) anyway."""
    if crash is not None and crash.file_id is not None:
        message = (
            f"{step} stopped on an internal error at line {crash.line} of {crash.file_id}, not "
            "on a problem found in that line; the operators have the log. Change or remove the "
            "line, upload the file again and create the job again; if it still fails, contact "
            f"the operators and give them the job id {job_id}."
        )
    else:
        message = (
            f"{step} stopped on an internal error; the operators have the log. Create the job "
            "again; if it fails the same way, contact the operators and give them the job id "
            f"{job_id}."
        )
    return await _fail(store, jobs, clock, job_id, JobError(code="internal_error", message=message))


async def fail_with_storage_full(
    store: JobStore, jobs: JobService, clock: Clock, job_id: str, *, step: str
) -> JobRecord | None:
    """Fail the job with ``storage_full``: ``step`` found the blob store out of space."""
    message = (
        f"{step} stopped because the blob store has no space left; the operators have to free "
        "or add some. Create the job again once they have."
    )
    return await _fail(store, jobs, clock, job_id, JobError(code="storage_full", message=message))


async def _fail(
    store: JobStore, jobs: JobService, clock: Clock, job_id: str, error: JobError
) -> JobRecord | None:
    for _ in range(_RACES):
        job = await store.get_any(job_id)
        if job is None or not can_transition(job.status, JobStatus.FAILED):
            return None
        failed = await store.transition(
            job.id,
            job.status,
            JobStatus.FAILED,
            messages.failed(error.message),
            expected_attempt=job.attempt,
            error=error,
            finished_at=to_seconds(clock.now_us()),
            estimated_finish=None,
        )
        if failed is not None:
            await jobs.notify_finished(failed)
            return failed
    return None
