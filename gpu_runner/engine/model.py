"""The base model and its LoRA adapters in one peft model.

Loading follows the rules for untrusted model directories (``trust_remote_code=False``,
safetensors only), in bf16 on a GPU and fp32 on the CPU, with PyTorch's sdpa attention.

peft needs an adapter to build a ``PeftModel``, so the first adapter loaded wraps the base model
and later ones are added to the same ``PeftModel`` (``load_adapter`` / ``set_adapter`` /
``delete_adapter``). Forward passes call the wrapped transformers model itself: peft injects the
LoRA layers into it in place, and it keeps working once every adapter is deleted, where the
``PeftModel`` wrapper would look up its (deleted) active adapter. Base requests run inside
``disable_adapter()``. Not thread-safe: the engine's worker thread is its only caller.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, DynamicCache
from transformers.utils import logging as transformers_logging

from gpu_runner.engine.config import EngineDevice


def choose_device(device: EngineDevice) -> tuple[torch.device, torch.dtype]:
    """The torch device and dtype for ``device`` (bf16 on CUDA, fp32 on the CPU)."""
    use_cuda = device is EngineDevice.CUDA or (
        device is EngineDevice.AUTO and torch.cuda.is_available()
    )
    if use_cuda:
        return torch.device("cuda"), torch.bfloat16
    return torch.device("cpu"), torch.float32


class ServingModel:
    """A causal LM on one device with any number of named LoRA adapters."""

    def __init__(self, model_dir: Path, device: EngineDevice) -> None:
        # One tqdm bar per load would flood the log.
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        self.device, self.dtype = choose_device(device)
        causal_lm: Any = AutoModelForCausalLM.from_pretrained(
            model_dir,
            trust_remote_code=False,
            use_safetensors=True,
            dtype=self.dtype,
            attn_implementation="sdpa",
        )
        causal_lm.to(self.device)
        causal_lm.eval()
        self._causal_lm = causal_lm
        self._peft: PeftModel | None = None
        self.eos_token_ids = _eos_token_ids(causal_lm)
        self.vocab_size = int(causal_lm.config.vocab_size)
        positions = getattr(causal_lm.config, "max_position_embeddings", None)
        self.max_position_embeddings: int | None = positions if isinstance(positions, int) else None

    @property
    def adapter_names(self) -> list[str]:
        """Adapters whose weights are loaded."""
        return [] if self._peft is None else list(self._peft.peft_config)

    def load_adapter(self, name: str, path: Path) -> None:
        """Load the adapter in ``path`` as ``name``; on failure nothing of it stays loaded."""
        try:
            if self._peft is None:
                with warnings.catch_warnings():
                    # peft 0.21 still reads transformers 5's deprecated `is_gradient_checkpointing`.
                    warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
                    self._peft = PeftModel.from_pretrained(
                        self._causal_lm, path, adapter_name=name, torch_device=str(self.device)
                    )
            else:
                self._peft.load_adapter(path, adapter_name=name, torch_device=str(self.device))
        except Exception:
            if name in self.adapter_names:
                self.delete_adapter(name)
            raise
        # Keeps the wrapper's active adapter valid (it goes stale once its adapter is deleted).
        self._activate(name)

    def delete_adapter(self, name: str) -> None:
        """Free ``name``'s weights."""
        if self._peft is None or name not in self._peft.peft_config:
            return
        self._peft.delete_adapter(name)
        remaining = self.adapter_names
        if remaining:
            self._activate(remaining[0])

    @contextmanager
    def adapter_scope(self, name: str | None) -> Iterator[None]:
        """Forward passes inside run with adapter ``name``, or the bare base model for None."""
        if name is not None:
            if self._peft is None or name not in self._peft.peft_config:
                raise KeyError(f"adapter {name!r} is not loaded")
            self._activate(name)
            yield
        elif self._peft is not None and self._peft.peft_config:
            with self._peft.disable_adapter():
                yield
        else:
            yield

    def new_cache(self) -> DynamicCache:
        """An empty KV cache for one sequence; ``next_token_logits`` fills it in place."""
        return DynamicCache(config=self._causal_lm.config)

    def next_token_logits(self, input_ids: list[int], cache: DynamicCache) -> torch.Tensor:
        """fp32 logits for the token after ``input_ids``: the tokens not yet in ``cache``."""
        ids = torch.tensor([input_ids], dtype=torch.long, device=self.device)
        # logits_to_keep=1: the prompt's other positions would cost a vocab-sized projection each.
        output = self._causal_lm(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
        return output.logits[0, -1, :].float()  # type: ignore[no-any-return]

    def _activate(self, name: str) -> None:
        if self._peft is None:
            raise KeyError(f"adapter {name!r} is not loaded")
        if self._peft.active_adapter != name:
            self._peft.set_adapter(name, inference_mode=True)


def _eos_token_ids(causal_lm: Any) -> frozenset[int]:
    """Every id that ends generation: the generation config's and the model config's."""
    found: set[int] = set()
    for source in (getattr(causal_lm, "generation_config", None), causal_lm.config):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            found.add(value)
        elif isinstance(value, list | tuple):
            found.update(item for item in value if isinstance(item, int))
    return frozenset(found)
