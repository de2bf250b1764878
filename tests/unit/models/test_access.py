"""Model access reads job rows without importing the jobs package: the status it names for a job
that published its model must stay the state machine's."""

from __future__ import annotations

from service.jobs.state_machine import JobStatus
from service.models.access import PUBLISHED_JOB_STATUS


def test_the_published_job_status_is_the_succeeded_status() -> None:
    assert JobStatus(PUBLISHED_JOB_STATUS) is JobStatus.SUCCEEDED
