"""Job domain records, and the job state machine as data.

validating_files ─► queued ─► running ─► succeeded
       │             │  ▲       │ │
       │             │  └───────┘ └──► failed        (running → queued: runner lost / SIGTERM)
       │             ▼          │
       │          paused ◄──────┘                    (paused → queued on resume)
       └──────────► failed
any non-terminal ──► cancelled
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.CANCELLED}),
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


class EventLevel(StrEnum):
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class EventType(StrEnum):
    MESSAGE = "message"
    METRICS = "metrics"


@dataclass(frozen=True)
class JobError:
    """Why a job failed: a stable code, a message, and the request field at fault."""

    code: str
    message: str
    param: str | None = None


@dataclass(frozen=True)
class JobRecord:
    """A fine-tuning job."""

    id: str
    project_id: str
    organization_id: str
    model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int
    method: dict[str, Any]  # the request's method block, ``type`` always set
    hyperparameters: dict[str, Any]  # resolved numbers once known, else as requested
    integrations: list[dict[str, Any]] | None
    metadata: dict[str, str] | None
    status: JobStatus
    created_at: int
    created_us: int
    attempt: int = 0
    error: JobError | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    result_files: list[str] = field(default_factory=list)
    finished_at: int | None = None
    estimated_finish: int | None = None
    heartbeat_us: int | None = None

    @property
    def method_type(self) -> str:
        """``supervised`` or ``dpo``."""
        return str(self.method["type"])


@dataclass(frozen=True)
class JobEvent:
    """One line of a job's event log."""

    id: str
    job_id: str
    created_at: int
    created_us: int
    level: EventLevel
    message: str
    type: EventType
    data: dict[str, Any] | None


@dataclass(frozen=True)
class NewEvent:
    """An event to append."""

    message: str
    level: EventLevel = EventLevel.INFO
    type: EventType = EventType.MESSAGE
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class CheckpointRecord:
    """A saved training checkpoint."""

    id: str
    job_id: str
    project_id: str
    created_at: int
    created_us: int
    step_number: int
    metrics: dict[str, float]
    fine_tuned_model_checkpoint: str
