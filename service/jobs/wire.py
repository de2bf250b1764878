"""HTTP shapes of fine-tuning jobs, events and checkpoints (strict-SDK compatible)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from service.jobs.records import CheckpointRecord, JobEvent, JobRecord, JobStatus

SdkStatus = Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]


class JobErrorObject(BaseModel):
    code: str
    message: str
    param: str | None


class HyperparametersObject(BaseModel):
    """Always a full object: ``"auto"`` until resolved, then numbers."""

    batch_size: Literal["auto"] | int
    learning_rate_multiplier: Literal["auto"] | float
    n_epochs: Literal["auto"] | int


class FineTuningJobObject(BaseModel):
    """OpenAI's ``fine_tuning.job``.

    ``status`` keeps to the SDK's literals: a paused job reads ``"queued"`` with ``paused: true``
    (the SDK's strict mode refuses an unknown status; extra fields are allowed).
    """

    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: JobErrorObject | None
    fine_tuned_model: str | None
    finished_at: int | None
    hyperparameters: HyperparametersObject
    model: str
    organization_id: str
    result_files: list[str]
    seed: int
    status: SdkStatus
    trained_tokens: int | None
    training_file: str
    validation_file: str | None
    estimated_finish: int | None
    integrations: list[dict[str, Any]] | None
    metadata: dict[str, str] | None
    method: dict[str, Any]
    user_provided_suffix: str | None
    paused: bool

    @classmethod
    def of(cls, job: JobRecord) -> FineTuningJobObject:
        """The wire shape of a job."""
        hyper = job.hyperparameters
        return cls(
            id=job.id,
            created_at=job.created_at,
            error=None
            if job.error is None or job.status is not JobStatus.FAILED
            else JobErrorObject(
                code=job.error.code, message=job.error.message, param=job.error.param
            ),
            fine_tuned_model=job.fine_tuned_model,
            finished_at=job.finished_at,
            hyperparameters=HyperparametersObject(
                batch_size=hyper["batch_size"],
                learning_rate_multiplier=hyper["learning_rate_multiplier"],
                n_epochs=hyper["n_epochs"],
            ),
            model=job.model,
            organization_id=job.organization_id,
            result_files=job.result_files,
            seed=job.seed,
            status="queued" if job.status is JobStatus.PAUSED else job.status.value,
            trained_tokens=job.trained_tokens,
            training_file=job.training_file,
            validation_file=job.validation_file,
            estimated_finish=job.estimated_finish if job.status is JobStatus.RUNNING else None,
            integrations=job.integrations,
            metadata=job.metadata,
            method=job.method,
            user_provided_suffix=job.suffix,
            paused=job.status is JobStatus.PAUSED,
        )


class FineTuningJobEventObject(BaseModel):
    """OpenAI's ``fine_tuning.job.event``."""

    id: str
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    type: Literal["message", "metrics"]
    data: dict[str, Any] | None

    @classmethod
    def of(cls, event: JobEvent) -> FineTuningJobEventObject:
        """The wire shape of an event."""
        return cls(
            id=event.id,
            created_at=event.created_at,
            level=event.level.value,
            message=event.message,
            type=event.type.value,
            data=event.data,
        )


class CheckpointObject(BaseModel):
    """OpenAI's ``fine_tuning.job.checkpoint``."""

    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    step_number: int
    metrics: dict[str, float]

    @classmethod
    def of(cls, checkpoint: CheckpointRecord) -> CheckpointObject:
        """The wire shape of a checkpoint."""
        return cls(
            id=checkpoint.id,
            created_at=checkpoint.created_at,
            fine_tuned_model_checkpoint=checkpoint.fine_tuned_model_checkpoint,
            fine_tuning_job_id=checkpoint.job_id,
            step_number=checkpoint.step_number,
            metrics=checkpoint.metrics,
        )
