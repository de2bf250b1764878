"""Ending a job whose background task was given up: ``failed`` with ``internal_error``."""

from __future__ import annotations

from service.clock import Clock, to_seconds
from service.jobs import messages
from service.jobs.records import JobError, JobRecord
from service.jobs.service import JobService
from service.jobs.state_machine import JobStatus, can_transition
from service.jobs.store import JobStore

_RACES = 3  # another actor moving the job meanwhile; each lost race re-reads it


async def fail_with_internal_error(
    store: JobStore, jobs: JobService, clock: Clock, job_id: str, *, step: str
) -> JobRecord | None:
    """Fail the job from whatever unfinished state it is in; ``step`` names what broke
    ("Job validation", "The training claim"). None when it finished (or was paused) anyway."""
    message = (
        f"{step} stopped on an internal error; the operators have the log. Create the job "
        "again; if it fails the same way, contact the operators."
    )
    for _ in range(_RACES):
        job = await store.get_any(job_id)
        if job is None or not can_transition(job.status, JobStatus.FAILED):
            return None
        failed = await store.transition(
            job.id,
            job.status,
            JobStatus.FAILED,
            messages.failed(message),
            expected_attempt=job.attempt,
            error=JobError(code="internal_error", message=message),
            finished_at=to_seconds(clock.now_us()),
            estimated_finish=None,
        )
        if failed is not None:
            await jobs.notify_finished(failed)
            return failed
    return None
