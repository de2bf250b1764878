"""Job domain records: a request for a job, the job, its events and checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from service.jobs.evaluation import JobEvaluation
from service.jobs.methods import MethodSpec, RequestedMethod
from service.jobs.state_machine import JobStatus


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
class JobRequest:
    """What a caller asks for: a job to create, or to estimate."""

    model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int | None
    method: RequestedMethod
    integrations: list[dict[str, Any]] | None
    metadata: dict[str, str] | None
    evaluation: JobEvaluation | None = None  # ftapi: eval_graders, early_stopping


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
    method: MethodSpec  # its hyperparameters: resolved numbers once known, else as requested
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
    evaluation: JobEvaluation | None = None  # ftapi: what the job asked of its evaluation
    eval_summary: dict[str, Any] | None = None  # ftapi: base vs tuned, best checkpoint, forgetting
    # ftapi: the peak rate it trains at, once resolved; None where the base model's registry entry
    # sets no rate (the trainer's own default applies, which the api does not know).
    learning_rate: float | None = None


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
    blob_prefix: str  # where its files are: the prefix of the attempt that saved it
