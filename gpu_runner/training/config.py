"""What one training run is told: the job's spec plus the trainer's own knobs, as JSON.

``LoraTrainerSettings`` are the operator's knobs (environment ``FTAPI_LORA_*``), read once when
the gpu worker builds its ``LoraTrainer``. ``RunConfig`` joins them with a job's
``TrainingSpec``; the parent writes it as JSON for the training process (never pickle), which
reads it back with ``RunConfig.model_validate_json``.

A job that starts from a fine-tuned model (``TrainingSpec.initial_adapter_dir``) keeps that
adapter's shape: its rank, alpha and target modules replace the settings' defaults, and the
adapter is validated (``validate_adapter``) before any process starts.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.jobs.methods import MethodType
from service.jobs.trainer_contract import TrainingSpec
from service.models.adapters import AdapterInfo, InvalidAdapterError, validate_adapter
from service.models.registry import VLLM_LORA_RANKS

DEFAULT_DPO_BETA = 0.1
_TRAINED_METHODS = (MethodType.SUPERVISED, MethodType.DPO)


class LearningRateSchedule(StrEnum):
    """How the learning rate decays after warm-up (to zero at the end)."""

    LINEAR = "linear"
    COSINE = "cosine"


class AttentionKind(StrEnum):
    """Which attention kernel the model runs.

    ``auto``: flash-attn 2 on a GPU where the package is installed, else ``varlen``
    (``training.attention``: per-sequence attention over packed rows, no mask). ``sdpa`` and
    ``eager`` attend through a dense block-diagonal mask: slower, kept as references.
    """

    AUTO = "auto"
    VARLEN = "varlen"
    SDPA = "sdpa"
    EAGER = "eager"
    FLASH_ATTENTION_2 = "flash_attention_2"


class Quantization(StrEnum):
    """How the frozen base weights are stored; ``nf4`` is QLoRA (CUDA and bitsandbytes only)."""

    NONE = "none"
    NF4 = "nf4"


class DeviceKind(StrEnum):
    """Where training runs; ``auto`` is CUDA when available, else the CPU."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class LoraTrainerSettings(BaseSettings):
    """The trainer's knobs, from ``FTAPI_LORA_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="FTAPI_LORA_", extra="ignore", frozen=True)

    base_learning_rate: float = Field(
        default=1e-4,
        gt=0,
        description="Multiplied by the job's learning_rate_multiplier; a registry entry's "
        "learning_rate replaces it for that model.",
    )
    lora_rank: int = Field(default=16, description="Capped at the base model's max_lora_rank.")
    lora_alpha: float | None = Field(default=None, gt=0, description="None: twice the rank.")
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    warmup_ratio: float = Field(default=0.03, ge=0, le=1)
    lr_schedule: LearningRateSchedule = LearningRateSchedule.LINEAR
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    packing: bool = Field(default=True, description="False: one example per row, padded.")
    micro_batch_rows: int = Field(default=2, ge=1, description="Rows per forward pass.")
    gradient_checkpointing: bool = False
    metrics_every_steps: int = Field(default=1, ge=1)
    eval_every_steps: int = Field(default=0, ge=0, description="0: about ten times per run.")
    eval_batch_examples: int = Field(default=64, ge=1, description="Size of valid_loss's batch.")
    checkpoint_every_steps: int = Field(default=0, ge=0, description="0: at epoch ends only.")
    eval_examples: int = Field(
        default=32, ge=1, description="Validation prompts the in-job generation eval answers."
    )
    eval_max_new_tokens: int = Field(
        default=64, ge=1, description="Longest answer of the in-job generation eval."
    )
    processes: int = Field(default=0, ge=0, description="0: one per visible GPU, 1 on CPU.")
    device: DeviceKind = DeviceKind.AUTO
    attention: AttentionKind = AttentionKind.AUTO
    quantization: Quantization = Field(
        default=Quantization.NONE,
        description="nf4: a 4-bit base (QLoRA); needs a CUDA GPU and the `qlora` extra.",
    )
    stop_grace_s: float = Field(
        default=120.0, gt=0, description="Time the process gets to checkpoint and exit."
    )
    poll_interval_s: float = Field(default=0.2, gt=0)

    @model_validator(mode="after")
    def _rank_is_servable(self) -> Self:
        if self.lora_rank not in VLLM_LORA_RANKS:
            raise ValueError(f"lora_rank must be one of vLLM's ranks {VLLM_LORA_RANKS}")
        return self


class RunConfig(BaseModel):
    """Everything the training process needs, resolved: one job's attempt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    method: MethodType
    base_model_id: str
    base_model_dir: Path
    max_seq_length: int = Field(ge=2)
    chat_template: str | None
    training_file: Path
    validation_file: Path | None
    workdir: Path
    resume_from: Path | None
    resume_step: int = Field(ge=0)
    initial_adapter_dir: Path | None = None  # train this adapter further instead of a new one
    seed: int
    n_epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    beta: float = Field(gt=0)
    lora_rank: int
    lora_alpha: float
    lora_dropout: float
    lora_target_modules: tuple[str, ...]
    warmup_ratio: float
    lr_schedule: LearningRateSchedule
    weight_decay: float
    max_grad_norm: float
    packing: bool
    micro_batch_rows: int = Field(ge=1)
    gradient_checkpointing: bool
    metrics_every_steps: int = Field(ge=1)
    eval_every_steps: int = Field(ge=0)
    eval_batch_examples: int = Field(ge=1)
    checkpoint_every_steps: int = Field(ge=0)
    eval_graders: tuple[dict[str, Any], ...] = ()  # the generation eval's; none: no such eval
    eval_examples: int = Field(default=32, ge=1)
    eval_max_new_tokens: int = Field(default=64, ge=1)
    early_stopping_patience: int = Field(default=0, ge=0)  # 0: off
    early_stopping_metric: str = "valid_loss"
    reference_set: Path | None = None  # the base's reference set: forgetting is measured on it
    device: DeviceKind
    attention: AttentionKind
    quantization: Quantization = Quantization.NONE

    @classmethod
    def from_spec(cls, spec: TrainingSpec, settings: LoraTrainerSettings) -> RunConfig:
        """Resolve a job's spec against the trainer's settings.

        Reads and validates the initial adapter, if any: ``InvalidAdapterError`` when it is not
        one this base can train further.
        """
        if spec.method not in _TRAINED_METHODS:
            raise ValueError(f"method '{spec.method}' is not trained by LoraTrainer")
        rank = min(settings.lora_rank, spec.max_lora_rank)
        alpha = settings.lora_alpha if settings.lora_alpha is not None else 2.0 * rank
        target_modules = spec.lora_target_modules
        if spec.initial_adapter_dir is not None:
            initial = _initial_adapter(spec.initial_adapter_dir, spec)
            rank, alpha, target_modules = initial.rank, initial.alpha, initial.target_modules
        if rank not in VLLM_LORA_RANKS:
            raise ValueError(f"LoRA rank {rank} is not one of vLLM's ranks {VLLM_LORA_RANKS}")
        return cls(
            job_id=spec.job_id,
            method=spec.method,
            base_model_id=spec.base_model_id,
            base_model_dir=spec.base_model_dir,
            max_seq_length=spec.max_seq_length,
            chat_template=spec.chat_template,
            training_file=spec.training_file,
            validation_file=spec.validation_file,
            workdir=spec.workdir,
            resume_from=spec.resume_from,
            resume_step=spec.resume_step,
            initial_adapter_dir=spec.initial_adapter_dir,
            seed=spec.seed,
            n_epochs=spec.n_epochs,
            batch_size=spec.batch_size,
            learning_rate=base_learning_rate(spec, settings) * spec.learning_rate_multiplier,
            beta=spec.beta if spec.beta is not None else DEFAULT_DPO_BETA,
            lora_rank=rank,
            lora_alpha=alpha,
            lora_dropout=settings.lora_dropout,
            lora_target_modules=target_modules,
            warmup_ratio=settings.warmup_ratio,
            lr_schedule=settings.lr_schedule,
            weight_decay=settings.weight_decay,
            max_grad_norm=settings.max_grad_norm,
            packing=settings.packing,
            micro_batch_rows=settings.micro_batch_rows,
            gradient_checkpointing=settings.gradient_checkpointing,
            metrics_every_steps=settings.metrics_every_steps,
            eval_every_steps=settings.eval_every_steps,
            eval_batch_examples=settings.eval_batch_examples,
            checkpoint_every_steps=settings.checkpoint_every_steps,
            eval_graders=spec.eval_graders,
            eval_examples=settings.eval_examples,
            eval_max_new_tokens=settings.eval_max_new_tokens,
            early_stopping_patience=spec.early_stopping_patience,
            early_stopping_metric=spec.early_stopping_metric,
            reference_set=spec.reference_set,
            device=settings.device,
            attention=settings.attention,
            quantization=settings.quantization,
        )

    @property
    def is_dpo(self) -> bool:
        """Whether this run trains on preference pairs."""
        return self.method is MethodType.DPO

    @property
    def adapter_dir(self) -> Path:
        """Where the finished adapter is written."""
        return self.workdir / "adapter"

    @property
    def checkpoints_dir(self) -> Path:
        """Where checkpoints are written before the parent takes them."""
        return self.workdir / "checkpoints"


def _initial_adapter(directory: Path, spec: TrainingSpec) -> AdapterInfo:
    """The adapter a job continues, checked like any adapter we publish, on the job's base."""
    info = validate_adapter(directory, max_lora_rank=spec.max_lora_rank)
    if info.base_model != spec.base_model_id:
        raise InvalidAdapterError(
            directory,
            [f"It was trained on {info.base_model!r}, not on {spec.base_model_id!r}."],
        )
    return info


def base_learning_rate(spec: TrainingSpec, settings: LoraTrainerSettings) -> float:
    """The learning rate a multiplier of 1 means: the base model's own, else the trainer's."""
    if spec.base_learning_rate is not None:
        return spec.base_learning_rate
    return settings.base_learning_rate
