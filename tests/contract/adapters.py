"""LoRA adapter directories for the served base model, made with peft in the test process.

Each adapter gets seeded random LoRA weights (A and B), so it is reproducible and changes the
model's greedy output. Variants that vLLM refuses (DoRA, ``modules_to_save``, a rank above the
server's maximum) are built the same way. Directories are what ``save_pretrained`` writes
(including peft's ``README.md``, which servers must ignore).
"""

from __future__ import annotations

import copy
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
from transformers.utils import logging as transformers_logging

# Large enough that every adapter's greedy output differs from the base's and from the others'.
LORA_WEIGHT_STD = 0.5


@dataclass(frozen=True)
class AdapterDir:
    """An adapter on disk: where the test wrote it and the path the server reads it from."""

    local_path: Path
    server_path: str


class AdapterFactory:
    """Writes adapters for the model in ``base_model_dir`` under ``out_dir``.

    ``server_dir`` is ``out_dir`` as the server sees it (a different mount point), if it differs.
    """

    def __init__(self, base_model_dir: Path, out_dir: Path, server_dir: str | None = None) -> None:
        self._base_model_dir = base_model_dir
        self._out_dir = out_dir
        self._server_dir = server_dir
        self._base: Any = None

    def make(self, *, seed: int, rank: int = 8, **lora_options: Any) -> AdapterDir:
        """A fresh adapter on ``q_proj``/``v_proj`` with weights drawn from ``seed``."""
        model = self._peft_model(rank, lora_options)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_A" in name or "lora_B" in name:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator))
                    parameter.mul_(LORA_WEIGHT_STD)
        directory = self._out_dir / f"adapter-{uuid.uuid4().hex[:12]}"
        model.save_pretrained(directory, safe_serialization=True)
        server_path = str(directory)
        if self._server_dir is not None:
            server_path = f"{self._server_dir.rstrip('/')}/{directory.name}"
        return AdapterDir(directory, server_path)

    def _peft_model(self, rank: int, lora_options: dict[str, Any]) -> Any:
        config = LoraConfig(r=rank, target_modules=["q_proj", "v_proj"], **lora_options)
        with warnings.catch_warnings():
            # peft 0.21 still reads transformers 5's deprecated `is_gradient_checkpointing`.
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
            return get_peft_model(copy.deepcopy(self._base_model()), config)

    def _base_model(self) -> Any:
        if self._base is None:
            transformers_logging.disable_progress_bar()
            self._base = AutoModelForCausalLM.from_pretrained(
                self._base_model_dir, trust_remote_code=False, use_safetensors=True
            )
        return self._base
