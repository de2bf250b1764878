"""Checkpoints and adapters on disk: safetensors for every tensor, JSON for everything else.

No pickle anywhere (``torch.save`` would make a checkpoint able to run code when loaded). A
checkpoint directory holds::

    adapter/adapter_config.json         the LoRA adapter at this step: servable on its own
    adapter/adapter_model.safetensors
    optimizer.safetensors               AdamW moments and step counts, ``state.{param}.{key}``
    rng-rank{r}.safetensors             each process's torch (and CUDA) generator states
    trainer_state.json                  step, data identity, optimizer param groups, scalars,
                                        and the loop's own counters (early stopping's)

The learning-rate schedule is a function of the step and the data position is the step (see
``data.StepPlan``), so the step number is their whole state. A directory is written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

import errno
import json
import shutil
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gpu_runner.training.distributed import Ranks
from gpu_runner.training.errors import ScratchDiskFullError
from service.models.adapters import ADAPTER_WEIGHTS_NAME

FORMAT_VERSION = 1
ADAPTER_DIR = "adapter"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"
# What the kernel answers when a write finds no space (EDQUOT: a quota).
_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not belong to this run (other data, seed or adapter shape)."""


@dataclass(frozen=True)
class RunPosition:
    """Where a run stands and what it runs on; a resumed run must match all but ``step``."""

    step: int
    total_steps: int
    seed: int
    n_units: int
    data_fingerprint: str
    world_size: int
    format_version: int = FORMAT_VERSION

    def check_resumable_by(self, other: RunPosition) -> None:
        """Raise unless a run at ``other`` (step aside) may continue from this checkpoint."""
        mine = asdict(self) | {"step": 0, "world_size": 0}
        theirs = asdict(other) | {"step": 0, "world_size": 0}
        if mine != theirs:
            raise CheckpointMismatchError(f"checkpoint {mine} does not match this run {theirs}")


def rng_file_name(rank: int) -> str:
    """The file of one process's generator states."""
    return f"rng-rank{rank}.safetensors"


@contextmanager
def _disk_full_ends_the_run(what: str) -> Iterator[None]:
    """A full disk while writing ``what`` fails the run with ``storage_full``, not a crash."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _NO_SPACE_ERRNOS:
            raise ScratchDiskFullError(what) from exc
        raise
    except SafetensorError as exc:
        # safetensors' Rust writer keeps only the text of the I/O error: "... (os error 28)".
        if any(f"(os error {number})" in str(exc) for number in _NO_SPACE_ERRNOS):
            raise ScratchDiskFullError(what) from exc
        raise


def save_adapter(directory: Path, model: PeftModel) -> None:
    """Write ``adapter_config.json`` and ``adapter_model.safetensors`` (nothing else)."""
    with _disk_full_ends_the_run("trained adapter"):
        _save_adapter(directory, model)


def _save_adapter(directory: Path, model: PeftModel) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # Never save embeddings (the vocabulary is never resized) and never ask the Hub about it.
    weights = get_peft_model_state_dict(model, save_embedding_layers=False)
    save_file(
        {name: tensor.detach().to("cpu").contiguous() for name, tensor in weights.items()},
        directory / ADAPTER_WEIGHTS_NAME,
        metadata={"format": "pt"},
    )
    model.peft_config["default"].save_pretrained(str(directory))  # adapter_config.json only


def save_checkpoint(
    directory: Path,
    model: PeftModel,
    optimizer: torch.optim.Optimizer,
    position: RunPosition,
    metrics: dict[str, float],
    ranks: Ranks,
    loop_state: dict[str, Any] | None = None,
) -> None:
    """Write a complete checkpoint to ``directory`` (every rank calls this).

    ``loop_state`` is what the training loop needs back on resume beyond the step (JSON).
    """
    with _disk_full_ends_the_run(f"checkpoint at step {position.step}"):
        _save_checkpoint(directory, model, optimizer, position, metrics, ranks, loop_state or {})


def _save_checkpoint(
    directory: Path,
    model: PeftModel,
    optimizer: torch.optim.Optimizer,
    position: RunPosition,
    metrics: dict[str, float],
    ranks: Ranks,
    loop_state: dict[str, Any],
) -> None:
    partial = directory.with_name(directory.name + ".partial")
    if ranks.is_main:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    ranks.barrier()
    save_file(_rng_state(), partial / rng_file_name(ranks.rank))
    ranks.barrier()
    if not ranks.is_main:
        return
    _save_adapter(partial / ADAPTER_DIR, model)
    tensors, scalars, groups = _flatten_optimizer(optimizer)
    save_file(tensors, partial / OPTIMIZER_FILE)
    state = {
        "position": asdict(position),
        "optimizer": {"param_groups": groups, "scalars": scalars},
        "metrics": metrics,
        "loop": loop_state,
    }
    (partial / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)


def read_position(directory: Path) -> RunPosition:
    """The run position a checkpoint was taken at."""
    state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    return RunPosition(**state["position"])


def read_loop_state(directory: Path) -> dict[str, Any]:
    """The loop's counters saved with a checkpoint (empty for checkpoints from before them)."""
    state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    loop_state: dict[str, Any] = state.get("loop", {})
    return loop_state


def load_checkpoint(
    directory: Path, model: PeftModel, optimizer: torch.optim.Optimizer, ranks: Ranks
) -> RunPosition:
    """Restore adapter weights, optimizer and this rank's generators; return the position."""
    state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    load_adapter_weights(model, directory / ADAPTER_DIR)
    tensors = load_file(directory / OPTIMIZER_FILE)
    optimizer.load_state_dict(_unflatten_optimizer(tensors, state["optimizer"]))
    rng_path = directory / rng_file_name(ranks.rank)
    if rng_path.is_file():
        _restore_rng(load_file(rng_path))
    else:  # resumed on more processes than it was saved from: a fresh, deterministic stream
        torch.manual_seed(state["position"]["seed"] * 7919 + ranks.rank)
    return RunPosition(**state["position"])


def load_adapter_weights(
    model: PeftModel, adapter_dir: Path, adapter_name: str = "default"
) -> None:
    """Load an adapter's safetensors into ``adapter_name``; every LoRA weight must fit exactly."""
    device = next(model.parameters()).device
    weights = load_file(adapter_dir / ADAPTER_WEIGHTS_NAME, device=str(device))
    result: Any = set_peft_model_state_dict(model, weights, adapter_name=adapter_name)
    # Another adapter's weights (DPO's frozen reference) are not this load's business.
    missing = [key for key in result.missing_keys if "lora_" in key and f".{adapter_name}." in key]
    if result.unexpected_keys or missing:
        raise CheckpointMismatchError(
            f"the adapter weights in {adapter_dir} do not fit this adapter"
        )


def _flatten_optimizer(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[dict[str, Any]]]:
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, entries in state_dict["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{key}"] = value.detach().to("cpu").contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    groups = json.loads(json.dumps(state_dict["param_groups"], default=_json_default))
    return tensors, scalars, groups


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], saved: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = defaultdict(dict)
    for name, tensor in tensors.items():
        _, index, key = name.split(".", 2)
        state[int(index)][key] = tensor
    for name, value in saved["scalars"].items():
        index, key = name.split(".", 1)
        state[int(index)][key] = value
    groups = [
        group | {"betas": tuple(group["betas"])} if "betas" in group else group
        for group in saved["param_groups"]
    ]
    return {"state": dict(state), "param_groups": groups}


def _rng_state() -> dict[str, torch.Tensor]:
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for device_index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            states[f"cuda.{device_index}"] = cuda_state
    return states


def _restore_rng(states: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(states["torch"])
    for name, cuda_state in states.items():
        if name.startswith("cuda.") and torch.cuda.is_available():
            device_index = int(name.removeprefix("cuda."))
            if device_index < torch.cuda.device_count():
                torch.cuda.set_rng_state(cuda_state, device_index)


def _json_default(value: object) -> object:
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
