"""The one check that a LoRA adapter directory is something vLLM will serve.

The trainer runs it on every adapter it publishes and serving runs it again before loading one,
so a bad adapter fails its job instead of crashing a server. It needs no torch: it reads
``adapter_config.json``, the file names, and the JSON header of ``adapter_model.safetensors``.

What vLLM refuses (``shared/reference/vllm-lora.md`` §1.7): DoRA, ``modules_to_save``, a bias
other than ``none``, ranks outside its set or above ``--max-lora-rank``, per-module
``rank_pattern``/``alpha_pattern`` (read by nobody, so outputs would silently be wrong), trainable
embedding tokens, and pickled weights. ``base_model_name_or_path`` must name the base model.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.models.registry import VLLM_LORA_RANKS

ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"
ADAPTER_FILE_NAMES = frozenset({ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME})
# Modules whose LoRA vLLM does not serve for every architecture (full embedding rows, vocab).
_UNSERVABLE_TARGETS = frozenset({"embed_tokens", "lm_head", "wte", "word_embeddings"})
_MAX_HEADER_BYTES = 100 << 20  # the safetensors format's own limit


class InvalidAdapterError(ValueError):
    """The adapter breaks one or more rules; ``problems`` lists every one, each a full sentence."""

    def __init__(self, directory: Path, problems: list[str]) -> None:
        super().__init__(f"adapter in {directory} is not servable: " + " ".join(problems))
        self.directory = directory
        self.problems = problems


@dataclass(frozen=True)
class AdapterInfo:
    """What serving needs to know about a valid adapter."""

    rank: int
    alpha: float
    target_modules: tuple[str, ...]
    base_model: str
    n_tensors: int


def validate_adapter(directory: Path, *, max_lora_rank: int) -> AdapterInfo:
    """Check the adapter in ``directory``; raise ``InvalidAdapterError`` naming every problem."""
    problems = _file_problems(directory)
    config: dict[str, Any] = {}
    config_path = directory / ADAPTER_CONFIG_NAME
    if config_path.is_file():
        try:
            loaded = json.loads(config_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{ADAPTER_CONFIG_NAME} is not valid JSON ({exc}).")
        else:
            if isinstance(loaded, dict):
                config = loaded
                problems += config_problems(config, max_lora_rank=max_lora_rank)
            else:
                problems.append(f"{ADAPTER_CONFIG_NAME} must hold a JSON object.")
    n_tensors = 0
    weights_path = directory / ADAPTER_WEIGHTS_NAME
    if weights_path.is_file():
        try:
            header = read_safetensors_header(weights_path)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            n_tensors = len(header)
            problems += _tensor_problems(header, config.get("r"))
    if problems:
        raise InvalidAdapterError(directory, problems)
    return AdapterInfo(
        rank=int(config["r"]),
        alpha=float(config.get("lora_alpha", config["r"])),
        target_modules=_target_list(config.get("target_modules")),
        base_model=str(config["base_model_name_or_path"]),
        n_tensors=n_tensors,
    )


def config_problems(config: Mapping[str, Any], *, max_lora_rank: int) -> list[str]:
    """The rules on ``adapter_config.json`` alone (also usable before any file exists)."""
    problems: list[str] = []
    if config.get("peft_type") != "LORA":
        problems.append(f"peft_type must be LORA, not {config.get('peft_type')!r}.")
    if config.get("use_dora"):
        problems.append("use_dora must be false: vLLM does not serve DoRA adapters.")
    if config.get("modules_to_save"):
        problems.append("modules_to_save must be empty: vLLM only serves LoRA weights.")
    if config.get("bias", "none") != "none":
        problems.append(f"bias must be 'none', not {config.get('bias')!r}.")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        problems.append("rank_pattern and alpha_pattern must be empty: vLLM ignores them.")
    if config.get("trainable_token_indices"):
        problems.append("trainable_token_indices must be empty: vLLM cannot serve them.")
    rank = config.get("r")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank not in VLLM_LORA_RANKS:
        problems.append(f"r must be one of vLLM's ranks {VLLM_LORA_RANKS}, not {rank!r}.")
    elif rank > max_lora_rank:
        problems.append(f"r={rank} is above this model's maximum LoRA rank {max_lora_rank}.")
    base = config.get("base_model_name_or_path")
    if not isinstance(base, str) or not base:
        problems.append("base_model_name_or_path must name the base model.")
    targets = _target_list(config.get("target_modules"))
    if not targets:
        problems.append("target_modules must list the adapted modules.")
    unservable = sorted(set(targets) & _UNSERVABLE_TARGETS)
    if unservable:
        problems.append(f"target_modules must not include {unservable}: vLLM cannot serve them.")
    return problems


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The tensor table of a safetensors file (name -> dtype, shape, offsets), without torch."""
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise ValueError(f"{path.name} is too short to be a safetensors file.")
        (header_bytes,) = struct.unpack("<Q", prefix)
        if header_bytes > _MAX_HEADER_BYTES:
            raise ValueError(f"{path.name} has an implausible safetensors header size.")
        raw = handle.read(header_bytes)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{path.name} has no readable safetensors header.") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path.name} has no readable safetensors header.")
    header.pop("__metadata__", None)
    return header


def _file_problems(directory: Path) -> list[str]:
    if not directory.is_dir():
        return [f"{directory} is not a directory."]
    names = {path.name for path in directory.iterdir()}
    problems = [f"{name} is missing." for name in sorted(ADAPTER_FILE_NAMES - names)]
    extra = sorted(names - ADAPTER_FILE_NAMES)
    pickled = [name for name in extra if name.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    if pickled:
        problems.append(f"pickled weights are not accepted ({', '.join(pickled)}).")
    other = [name for name in extra if name not in pickled]
    if other:
        problems.append(
            f"unexpected files {other}: an adapter holds only {sorted(ADAPTER_FILE_NAMES)}."
        )
    return problems


def _tensor_problems(header: Mapping[str, Any], rank: object) -> list[str]:
    if not header:
        return [f"{ADAPTER_WEIGHTS_NAME} holds no tensors."]
    not_lora = sorted(name for name in header if ".lora_A." not in name and ".lora_B." not in name)
    if not_lora:
        shown = ", ".join(not_lora[:3]) + (" …" if len(not_lora) > 3 else "")
        return [f"{ADAPTER_WEIGHTS_NAME} holds tensors that are not LoRA weights ({shown})."]
    if not isinstance(rank, int):
        return []
    wrong = sorted(
        name
        for name, entry in header.items()
        if _rank_dim(name, entry.get("shape", [])) not in (None, rank)
    )
    if wrong:
        return [f"tensors {wrong[:3]} do not have rank r={rank}."]
    return []


def _rank_dim(name: str, shape: list[int]) -> int | None:
    if len(shape) != 2:
        return None
    return shape[0] if ".lora_A." in name else shape[1]


def _target_list(targets: object) -> tuple[str, ...]:
    if isinstance(targets, str):
        return (targets,)  # peft also allows one regular expression
    if isinstance(targets, list):
        return tuple(str(target) for target in targets)
    return ()
