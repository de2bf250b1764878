"""What an engine is started with: the ``ftapi engine`` flags, checked once."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from service.models.registry import VLLM_LORA_RANKS


class EngineDevice(StrEnum):
    """Where the model runs; ``auto`` is CUDA when available, else the CPU."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


@dataclass(frozen=True)
class EngineConfig:
    """One engine's settings; the names follow vLLM's flags (``--max-loras`` → ``max_loras``).

    ``model`` is kept exactly as given: vLLM reports it as the base card's ``root`` and the
    filesystem resolver compares adapters' ``base_model_name_or_path`` with it.
    """

    model: str
    served_model_name: str | None = None
    max_loras: int = 1
    max_cpu_loras: int | None = None
    max_lora_rank: int = 16
    max_model_len: int | None = None
    chat_template: str | None = None
    api_key: str | None = None
    runtime_lora_updating: bool = True
    lora_resolver_cache_dir: Path | None = None
    device: EngineDevice = EngineDevice.AUTO

    def __post_init__(self) -> None:
        if not Path(self.model).is_dir():
            raise ValueError(f"--model {self.model!r} is not a model directory")
        if self.max_loras < 1:
            raise ValueError(f"--max-loras must be at least 1, not {self.max_loras}")
        if self.max_cpu_loras is not None and self.max_cpu_loras < self.max_loras:
            # vLLM refuses this too: the CPU cache must hold every adapter a batch can use.
            raise ValueError(
                f"--max-cpu-loras ({self.max_cpu_loras}) must be >= --max-loras ({self.max_loras})"
            )
        if self.max_lora_rank not in VLLM_LORA_RANKS:
            raise ValueError(
                f"--max-lora-rank must be one of {VLLM_LORA_RANKS}, not {self.max_lora_rank}"
            )
        if self.max_model_len is not None and self.max_model_len < 1:
            raise ValueError(f"--max-model-len must be positive, not {self.max_model_len}")

    @property
    def model_name(self) -> str:
        """The base model's name in requests: ``--served-model-name``, else ``--model``."""
        return self.served_model_name or self.model

    @property
    def resident_adapters(self) -> int:
        """How many adapters' weights stay loaded (vLLM's CPU LRU, ``--max-cpu-loras``)."""
        return self.max_cpu_loras if self.max_cpu_loras is not None else self.max_loras
