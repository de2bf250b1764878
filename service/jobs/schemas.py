"""HTTP shapes of fine-tuning jobs: the request body of ``POST /v1/fine_tuning/jobs`` (also taken
by the estimate endpoint) and the job, event and checkpoint objects (strict-SDK compatible)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from service.datasets.schemas import DatasetReportObject
from service.http.schemas import InputModel
from service.jobs import evaluation, methods
from service.jobs.records import CheckpointRecord, JobEvent, JobRecord, JobRequest
from service.jobs.state_machine import JobStatus

AutoOr = Literal["auto"]
Epochs = Annotated[int, Field(ge=1, le=50)]
BatchSize = Annotated[int, Field(ge=1, le=256)]
Multiplier = Annotated[float, Field(gt=0, le=100)]
Beta = Annotated[float, Field(gt=0, le=2)]
MAX_METADATA_PAIRS = 16


class SupervisedHyperparameters(InputModel):
    """Hyperparameters of supervised fine-tuning."""

    n_epochs: AutoOr | Epochs = "auto"
    batch_size: AutoOr | BatchSize = "auto"
    learning_rate_multiplier: AutoOr | Multiplier = "auto"

    def to_domain(self) -> methods.Hyperparameters:
        """These hyperparameters as the jobs domain holds them."""
        return methods.Hyperparameters(
            n_epochs=self.n_epochs,
            batch_size=self.batch_size,
            learning_rate_multiplier=self.learning_rate_multiplier,
        )


class DpoHyperparameters(SupervisedHyperparameters):
    """Hyperparameters of DPO: supervised ones plus ``beta``."""

    beta: AutoOr | Beta = "auto"

    def to_domain(self) -> methods.DpoHyperparameters:
        """These hyperparameters as the jobs domain holds them."""
        return methods.DpoHyperparameters(
            n_epochs=self.n_epochs,
            batch_size=self.batch_size,
            learning_rate_multiplier=self.learning_rate_multiplier,
            beta=self.beta,
        )


class SupervisedMethod(InputModel):
    hyperparameters: SupervisedHyperparameters | None = None


class DpoMethod(InputModel):
    hyperparameters: DpoHyperparameters | None = None


class ReinforcementMethod(InputModel):
    """Accepted for shape only: creating an RFT job answers 400 ``unsupported_method``."""

    grader: dict[str, object] | None = None
    hyperparameters: dict[str, object] | None = None


class Method(InputModel):
    """``method``: which kind of fine-tuning, with its hyperparameters."""

    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: SupervisedMethod | None = None
    dpo: DpoMethod | None = None
    reinforcement: ReinforcementMethod | None = None


class WandbIntegration(InputModel):
    project: str = Field(min_length=1, max_length=256)
    name: str | None = Field(default=None, max_length=256)
    entity: str | None = Field(default=None, max_length=256)
    tags: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=50)


class Integration(InputModel):
    """Stored and echoed; ftapi does not call out to W&B."""

    type: Literal["wandb"]
    wandb: WandbIntegration


class EarlyStoppingBody(InputModel):
    """ftapi extension: stop once ``metric`` has not improved for ``patience`` evaluations."""

    patience: int = Field(ge=1, le=100)
    metric: str = Field(default=evaluation.DEFAULT_SELECTION_METRIC, min_length=1, max_length=80)


class JobCreate(InputModel):
    """Body of ``POST /v1/fine_tuning/jobs``."""

    model: str = Field(min_length=1, max_length=256)
    training_file: str = Field(min_length=1, max_length=64)
    validation_file: str | None = Field(default=None, max_length=64)
    suffix: str | None = Field(default=None, min_length=1, max_length=64)
    seed: int | None = Field(default=None, ge=0, le=2_147_483_647)
    method: Method | None = None
    hyperparameters: SupervisedHyperparameters | None = Field(
        default=None, description="Deprecated: use method.supervised.hyperparameters."
    )
    integrations: list[Integration] | None = Field(default=None, max_length=5)
    metadata: dict[str, str] | None = None
    eval_graders: list[dict[str, Any]] | None = Field(
        default=None,
        description="ftapi extension: graders (string_check, text_similarity, multi of them) "
        "that replace the default exact match and similarity of the in-job evaluation; "
        "needs a validation_file.",
    )
    early_stopping: EarlyStoppingBody | None = Field(
        default=None,
        description="ftapi extension: end training once the metric (valid_loss by default, or "
        "a grader's valid_<name>) has not improved for `patience` evaluations.",
    )

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        if len(value) > MAX_METADATA_PAIRS:
            raise ValueError(f"at most {MAX_METADATA_PAIRS} metadata pairs")
        for key, item in value.items():
            if len(key) > 64 or len(item) > 512:
                raise ValueError("metadata keys are at most 64 characters, values at most 512")
        return value

    @model_validator(mode="after")
    def _method_matches_its_block(self) -> JobCreate:
        if self.method is None:
            return self
        blocks = {"supervised": self.method.supervised, "dpo": self.method.dpo}
        for name, block in blocks.items():
            if block is not None and name != self.method.type:
                raise ValueError(f"method.{name} given but method.type is {self.method.type!r}")
        return self

    def to_domain(self) -> JobRequest:
        """The request as the jobs domain takes it."""
        return JobRequest(
            model=self.model,
            training_file=self.training_file,
            validation_file=self.validation_file,
            suffix=self.suffix,
            seed=self.seed,
            method=self._requested_method(),
            integrations=None
            if self.integrations is None
            else [integration.model_dump(exclude_none=True) for integration in self.integrations],
            metadata=self.metadata,
            evaluation=evaluation.parse_job_evaluation(
                self.eval_graders,
                None
                if self.early_stopping is None
                else evaluation.EarlyStopping(
                    self.early_stopping.patience, self.early_stopping.metric
                ),
                has_validation_file=self.validation_file is not None,
                generates=self.method is None or self.method.type == "supervised",
            ),
        )

    def fingerprint(self) -> str:
        """A hash of the body, to tell an ``Idempotency-Key``'s replay from a reuse."""
        return hashlib.sha256(self.model_dump_json(exclude_none=True).encode()).hexdigest()

    def _requested_method(self) -> methods.RequestedMethod:
        """The method asked for, with its hyperparameters wherever in the body they were given
        (no ``method``: supervised, with the deprecated top-level ``hyperparameters``)."""
        if self.method is not None and self.method.type == "dpo":
            dpo = self.method.dpo.hyperparameters if self.method.dpo else None
            return methods.DpoSpec((dpo or DpoHyperparameters()).to_domain())
        if self.method is not None and self.method.type == "reinforcement":
            return methods.ReinforcementSpec()
        supervised = None
        if self.method is not None and self.method.supervised is not None:
            supervised = self.method.supervised.hyperparameters
        chosen = supervised or self.hyperparameters or SupervisedHyperparameters()
        return methods.SupervisedSpec(chosen.to_domain())


class ResolvedHyperparametersObject(BaseModel):
    """Concrete hyperparameters, ``auto`` resolved."""

    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    beta: float | None = None
    learning_rate: float | None = Field(
        default=None,
        description="The peak learning rate: learning_rate_multiplier times the base model's own "
        "rate (its registry entry's learning_rate); null when the entry sets none and the "
        "trainer's default applies.",
    )


class JobProblemObject(BaseModel):
    """One reason a job would fail."""

    code: str
    message: str
    param: str | None


class EstimateObject(BaseModel):
    """``POST /v1/fine_tuning/estimate``: what a job with this body would do, and its problems."""

    object: Literal["fine_tuning.estimate"] = "fine_tuning.estimate"
    model: str
    method: str
    ok: bool
    problems: list[JobProblemObject]
    hyperparameters: ResolvedHyperparametersObject | None
    estimated_trained_tokens: int | None
    estimated_duration_seconds: float | None
    training_report: DatasetReportObject | None
    validation_report: DatasetReportObject | None


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
    eval_graders: list[dict[str, Any]] | None = Field(
        default=None, description="ftapi: the job's own in-job graders (null: the defaults)."
    )
    early_stopping: dict[str, Any] | None = Field(
        default=None, description="ftapi: the job's early stopping, if asked for."
    )
    learning_rate: float | None = Field(
        default=None,
        description="ftapi: the peak learning rate the job trains at, resolved with its "
        "hyperparameters: learning_rate_multiplier times the base model's own rate (its registry "
        "entry's learning_rate). Null until resolved, and when the entry sets no rate (the "
        "trainer's default applies).",
    )
    eval_summary: dict[str, Any] | None = Field(
        default=None,
        description="ftapi: the in-job evaluation's base and tuned metrics, the best "
        "checkpoint, and the step training stopped early at (with a validation file); "
        "reference_base, reference_tuned and forgetting (base minus tuned per metric) on the "
        "base model's reference set, if its registry entry names one; eval_seconds. Null when "
        "the job has neither.",
    )

    @classmethod
    def of(cls, job: JobRecord) -> FineTuningJobObject:
        """The wire shape of a job."""
        hyper = job.method.hyperparameters
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
                batch_size=hyper.batch_size,
                learning_rate_multiplier=hyper.learning_rate_multiplier,
                n_epochs=hyper.n_epochs,
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
            method=_method_object(job.method),
            user_provided_suffix=job.suffix,
            paused=job.status is JobStatus.PAUSED,
            eval_graders=None
            if job.evaluation is None or job.evaluation.graders is None
            else list(job.evaluation.graders),
            early_stopping=None
            if job.evaluation is None or job.evaluation.early_stopping is None
            else asdict(job.evaluation.early_stopping),
            eval_summary=job.eval_summary,
            learning_rate=job.learning_rate,
        )


def _method_object(method: methods.MethodSpec) -> dict[str, Any]:
    """OpenAI's ``method`` object: the type, and its block with the hyperparameters."""
    return {
        "type": method.type.value,
        method.type.value: {"hyperparameters": asdict(method.hyperparameters)},
    }


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
    is_best: bool = Field(
        default=False,
        description="ftapi: the job's best checkpoint by its selection metric (valid_loss, or "
        "early_stopping.metric); it is kept when older checkpoints are pruned.",
    )

    @classmethod
    def of(cls, checkpoint: CheckpointRecord, *, is_best: bool = False) -> CheckpointObject:
        """The wire shape of a checkpoint."""
        return cls(
            is_best=is_best,
            id=checkpoint.id,
            created_at=checkpoint.created_at,
            fine_tuned_model_checkpoint=checkpoint.fine_tuned_model_checkpoint,
            fine_tuning_job_id=checkpoint.job_id,
            step_number=checkpoint.step_number,
            metrics=checkpoint.metrics,
        )
