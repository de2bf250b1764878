"""The base-model registry: which base models may be fine-tuned, read from a TOML file.

    [[models]]
    id = "ftapi/tiny-llama"          # what callers pass as `model`
    path = "/srv/models/tiny-llama"  # a local directory with config, tokenizer and safetensors
    # or: hub_id = "org/name" with revision = "<40-hex commit>" (pinned; see models.hub_offline)
    # or: blob_prefix = "base-models/tiny-llama/" (a directory uploaded with its manifest.json)
    max_seq_length = 2048
    lora_target_modules = ["q_proj", "k_proj", "v_proj", "o_proj"]
    max_lora_rank = 64
    # chat_template = "..."          # optional override of the tokenizer's template
    # learning_rate = 2e-3           # base learning rate of `auto` jobs on this model, the one
    #                                # learning_rate_multiplier scales (default: the trainer's
    #                                # FTAPI_LORA_BASE_LEARNING_RATE, 1e-4)
    # reference_set = "ref.jsonl"    # chat examples of what the base can do (relative to this
    #                                # file), for evaluating forgetting against

Exactly one source per model; ``service.models.sources.ModelFiles`` turns it into a local dir.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from service.errors import InvalidRequest

DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
_PINNED_REVISION = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class BaseModelSpec:
    """One fine-tunable base model."""

    id: str
    path: Path | None = None
    hub_id: str | None = None
    revision: str | None = None
    blob_prefix: str | None = None
    max_seq_length: int = 2048
    chat_template: str | None = None
    lora_target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    max_lora_rank: int = 64
    # Per-model defaults: a small model needs a bolder step than the trainer's default for LoRA.
    learning_rate: float | None = None
    reference_set: Path | None = None
    created: int = 0

    def __post_init__(self) -> None:
        if not self.id or any(ch.isspace() for ch in self.id) or ":" in self.id:
            raise ValueError(f"model id {self.id!r} must be non-empty, without spaces or ':'")
        sources = [self.path, self.hub_id, self.blob_prefix]
        if sum(source is not None for source in sources) != 1:
            raise ValueError(f"model {self.id}: give exactly one of path, hub_id, blob_prefix")
        if self.hub_id is not None and not _PINNED_REVISION.fullmatch(self.revision or ""):
            raise ValueError(
                f"model {self.id}: hub_id needs revision = the 40-hex commit to pin to"
            )
        if self.max_seq_length < 16:
            raise ValueError(f"model {self.id}: max_seq_length must be at least 16")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            raise ValueError(f"model {self.id}: learning_rate must be in (0, 1)")
        if self.max_lora_rank not in VLLM_LORA_RANKS:
            raise ValueError(
                f"model {self.id}: max_lora_rank must be one of vLLM's ranks {VLLM_LORA_RANKS}"
            )


@dataclass(frozen=True)
class ModelRegistry:
    """The base models this deployment offers."""

    models: tuple[BaseModelSpec, ...] = field(default_factory=tuple)

    @classmethod
    def from_file(cls, path: Path | None) -> ModelRegistry:
        """Read a registry file; no file means no models."""
        if path is None or not path.exists():
            return cls()
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
        specs = []
        for entry in raw.get("models", []):
            entry = dict(entry)
            for relative in ("path", "reference_set"):
                if relative in entry:
                    entry[relative] = (path.parent / entry[relative]).resolve()
            if "learning_rate" in entry:
                entry["learning_rate"] = float(entry["learning_rate"])
            if "lora_target_modules" in entry:
                entry["lora_target_modules"] = tuple(entry["lora_target_modules"])
            specs.append(BaseModelSpec(**entry))
        ids = [spec.id for spec in specs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{path}: duplicate model ids")
        return cls(tuple(specs))

    def get(self, model_id: str) -> BaseModelSpec | None:
        """The model with this id, or None."""
        return next((spec for spec in self.models if spec.id == model_id), None)

    def require(self, model_id: str, *, param: str = "model") -> BaseModelSpec:
        """The model with this id, or a 400 naming ``param``."""
        spec = self.get(model_id)
        if spec is None:
            raise InvalidRequest(
                f"Model {model_id} is not available for fine-tuning or does not exist.",
                param=param,
                code="model_not_available",
            )
        return spec
