"""The runner contract: what the gpu worker hands a trainer, and what it gets back.

The gpu worker (``gpu_runner.gpu_worker``) owns the job: it claims it, downloads inputs,
keeps the heartbeat, relays progress into events and checkpoints into the blob store, and
finishes the job. A ``Trainer`` only trains, reporting through ``TrainingControl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from service.jobs.methods import MethodType


class StopReason(StrEnum):
    """Why the handler asks a trainer to stop early."""

    CANCELLED = "cancelled"  # discard everything
    PAUSED = "paused"  # save a checkpoint, then stop
    SHUTDOWN = "shutdown"  # the worker is going away: save a checkpoint, then stop


@dataclass(frozen=True)
class TrainingSpec:
    """Everything a trainer needs, already resolved and downloaded."""

    job_id: str
    method: MethodType  # one a trainer takes: supervised or dpo
    base_model_id: str
    base_model_dir: Path
    max_seq_length: int
    chat_template: str | None
    lora_target_modules: tuple[str, ...]
    max_lora_rank: int
    training_file: Path
    validation_file: Path | None
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    beta: float | None  # DPO only
    seed: int
    workdir: Path  # scratch space of this attempt, deleted afterwards
    resume_from: Path | None = None  # a checkpoint directory to continue from
    resume_step: int = 0
    # An adapter to continue training from: the job started from a fine-tuned model or
    # checkpoint (adapter_config.json + adapter_model.safetensors, on ``base_model_id``).
    initial_adapter_dir: Path | None = None
    # In-job evaluation (``service.jobs.evaluation``): the graders of the generation eval (none:
    # no generation eval) and early stopping (patience 0: off).
    eval_graders: tuple[dict[str, Any], ...] = ()
    early_stopping_patience: int = 0
    early_stopping_metric: str = "valid_loss"
    # The base model's own learning rate from the registry (None: the trainer's default), the
    # one ``learning_rate_multiplier`` scales.
    base_learning_rate: float | None = None
    # The registry's reference set of the base (chat examples of what it can do): base and tuned
    # model are evaluated on it to measure forgetting. None: no such eval.
    reference_set: Path | None = None


@dataclass(frozen=True)
class TrainingResult:
    """A finished training run."""

    adapter_dir: Path  # adapter_config.json + adapter_model.safetensors
    trained_tokens: int
    total_steps: int
    stopped_early_at: int | None = None  # the step early stopping ended training at
    # The parity probes' references (``ProbeSet.to_json()``, ``service.models.parity_probes``),
    # stored in the adapter's manifest; None when the trainer recorded none.
    parity_probes: dict[str, Any] | None = None


class EvaluationPhase(StrEnum):
    """Which model an in-job evaluation graded."""

    BASE = "base"  # before the first step
    TUNED = "tuned"  # the model the job publishes
    # The base model's reference set (forgetting), graded the same way before and after.
    REFERENCE_BASE = "reference_base"
    REFERENCE_TUNED = "reference_tuned"


@dataclass(frozen=True)
class EvaluationReport:
    """The in-job evaluation of the base or the tuned model (``valid_<grader>`` metrics)."""

    phase: EvaluationPhase
    step: int
    values: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # what the attempt's generation evals took so far, this one included


@dataclass(frozen=True)
class StepMetrics:
    """What a trainer reports every few steps (keys as in OpenAI's metric events)."""

    step: int
    total_steps: int
    values: dict[str, float] = field(default_factory=dict)


class TrainingStopped(Exception):
    """Raised by a trainer that stopped because ``stop_requested`` said so."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


# The TrainingFailed code of a run that could not store a checkpoint or its adapter: the
# trainer's scratch disk or the blob store has no space left.
STORAGE_FULL_CODE = "storage_full"


class TrainingFailed(Exception):
    """A failure the user can act on (``out_of_memory``, ``training_diverged``, ``storage_full``,
    …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TrainingControl(Protocol):
    """The handler's side of the contract, given to the trainer."""

    async def report_metrics(self, metrics: StepMetrics) -> None:
        """Record metrics of a step (an event, the metrics file, the ETA)."""
        ...

    async def save_checkpoint(self, step: int, directory: Path, metrics: dict[str, float]) -> None:
        """Store a checkpoint the trainer wrote to ``directory`` (adapter + resumable state)."""
        ...

    async def report_evaluation(self, report: EvaluationReport) -> None:
        """Record the in-job evaluation of the base or the tuned model."""
        ...

    def stop_requested(self) -> StopReason | None:
        """Whether the trainer should stop now (checked between steps)."""
        ...


class Trainer(Protocol):
    """Trains one job. Raises ``TrainingStopped`` or ``TrainingFailed`` when it does not finish."""

    async def train(self, spec: TrainingSpec, control: TrainingControl) -> TrainingResult: ...
