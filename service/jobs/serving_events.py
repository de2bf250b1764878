"""Serving's news about a job's model, written as the job's events (the gateway's recorder)."""

from __future__ import annotations

from service.jobs.records import EventLevel, NewEvent
from service.jobs.store import JobStore
from service.serving.names import MODEL_UNSERVABLE_CODE


class JobServingEvents:
    """``UnservableRecorder`` over the job event store."""

    def __init__(self, jobs: JobStore) -> None:
        self._jobs = jobs

    async def model_unservable(self, job_id: str, model_id: str, reason: str) -> None:
        """An error event on the job: an inference replica refused its model, and why."""
        await self._jobs.add_event(
            job_id,
            NewEvent(
                f"The model {model_id} failed its parity check on an inference replica and is "
                f"not served there. {reason}",
                level=EventLevel.ERROR,
                data={"code": MODEL_UNSERVABLE_CODE, "model": model_id},
            ),
        )
