"""Whether an adapter made elsewhere fits a base model of the registry.

Two checks, beyond ``validate_adapter``'s rules (which say the adapter is servable at all):

- **The base it names.** ``base_model_name_or_path`` in ``adapter_config.json`` must be the
  registry id (``ftapi/demo-tiny``) or the hub id the registry pins the base to
  (``meta-llama/Llama-3.2-1B``): what peft writes when it trains on the hub model, and what
  ``GET /v1/models/{model}/content`` writes. A local path names nothing ftapi can check, so it
  is refused with a message saying what to write instead.
- **Its tensors' shapes.** Each ``…{module}.lora_A.weight`` must be ``[r, in]`` and each
  ``…{module}.lora_B.weight`` ``[out, r]``, where ``[out, in]`` is the shape of
  ``{module}.weight`` in the base's own safetensors (read from their JSON headers, no torch,
  sharded checkpoints through ``model.safetensors.index.json``), and the module must exist there.
  An adapter for another size of the same family fails here instead of at load time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from service.models.adapters import read_safetensors_header
from service.models.registry import BaseModelSpec

_PEFT_PREFIX = "base_model.model."
_INDEX_NAME = "model.safetensors.index.json"
_SHOWN = 5


def base_name_problem(named: str, spec: BaseModelSpec) -> str | None:
    """Why ``named`` (the config's ``base_model_name_or_path``) does not name ``spec``."""
    accepted = [spec.id] + ([spec.hub_id] if spec.hub_id else [])
    if named in accepted:
        return None
    return (
        f"adapter_config.json names the base model {named!r}, not {spec.id!r}: set its "
        f"base_model_name_or_path to {' or '.join(repr(name) for name in accepted)}."
    )


def base_weight_shapes(base_dir: Path) -> dict[str, list[int]]:
    """Every tensor of the base model's safetensors, by name, with its shape."""
    index = base_dir / _INDEX_NAME
    if index.is_file():
        weight_map: dict[str, str] = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        files = sorted(set(weight_map.values()))
    else:
        files = sorted(path.name for path in base_dir.glob("*.safetensors"))
    shapes: dict[str, list[int]] = {}
    for name in files:
        for tensor, entry in read_safetensors_header(base_dir / name).items():
            shapes[tensor] = list(entry.get("shape", []))
    return shapes


def shape_problems(
    adapter_header: Mapping[str, Any], base_shapes: Mapping[str, list[int]], rank: int
) -> list[str]:
    """Why the adapter's LoRA tensors do not fit the base's modules (empty: they fit)."""
    missing: list[str] = []
    wrong: list[str] = []
    for name, entry in sorted(adapter_header.items()):
        module, _, kind = name.removeprefix(_PEFT_PREFIX).partition(".lora_")
        base = base_shapes.get(module + ".weight")
        if base is None:
            missing.append(module)
            continue
        shape = list(entry.get("shape", []))
        if len(base) != 2:
            wrong.append(f"{name} (the base's {module} is not a linear layer)")
            continue
        out_features, in_features = base
        expected = [rank, in_features] if kind.startswith("A.") else [out_features, rank]
        if shape != expected:
            wrong.append(f"{name} is {shape}, the base needs {expected}")
    problems = []
    if missing:
        shown = ", ".join(sorted(set(missing))[:_SHOWN])
        problems.append(f"the adapter adapts modules the base model does not have ({shown}).")
    if wrong:
        shown = "; ".join(wrong[:_SHOWN]) + (" …" if len(wrong) > _SHOWN else "")
        problems.append(f"tensor shapes do not fit the base model: {shown}.")
    return problems
