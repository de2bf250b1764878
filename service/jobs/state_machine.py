"""The job state machine, as data: every status and every allowed transition.

validating_files ─► queued ─► running ─► succeeded
       │             │  ▲       │ │
       │             │  └───────┘ └──► failed        (running → queued: runner lost / SIGTERM)
       │             ▼          │
       │          paused ◄──────┘                    (paused → queued on resume)
       └──────────► failed
queued ───────────► failed                          (its training task was given up)
any non-terminal ──► cancelled
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its life."""

    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """No transition leaves this state."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

# Every allowed transition. The store refuses anything else (compare-and-set on the old status).
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.VALIDATING_FILES: frozenset(
        {JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    # queued -> failed: its training task was given up before the claim (an internal error).
    JobStatus.QUEUED: frozenset(
        {JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.CANCELLED,
            JobStatus.PAUSED,
            JobStatus.QUEUED,
        }
    ),
    JobStatus.PAUSED: frozenset({JobStatus.QUEUED, JobStatus.CANCELLED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def can_transition(old: JobStatus, new: JobStatus) -> bool:
    """Whether ``old → new`` is in the table."""
    return new in TRANSITIONS[old]
