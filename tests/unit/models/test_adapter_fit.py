"""``adapter_fit``: which base names an adapter config may give, and LoRA shapes against the
base's weights (a sharded base read through its index)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from service.models.adapter_fit import base_name_problem, base_weight_shapes, shape_problems
from service.models.registry import BaseModelSpec

HUB = BaseModelSpec(id="acme/small", hub_id="meta-llama/Llama-3.2-1B", revision="a" * 40)
LOCAL = BaseModelSpec(id="acme/local", path=Path("/models/local"))


def write_safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    header = {
        name: {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}
        for name, shape in shapes.items()
    }
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded)


def test_the_registry_id_or_the_hub_id_names_the_base() -> None:
    assert base_name_problem("acme/small", HUB) is None
    assert base_name_problem("meta-llama/Llama-3.2-1B", HUB) is None
    assert base_name_problem("acme/local", LOCAL) is None
    problem = base_name_problem("/home/me/Llama-3.2-1B", HUB)
    assert problem is not None
    assert "'acme/small' or 'meta-llama/Llama-3.2-1B'" in problem
    assert base_name_problem("meta-llama/Llama-3.2-3B", HUB) is not None


def test_shapes_are_read_from_every_shard(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "a.safetensors", {"model.layers.0.q.weight": [32, 16]})
    write_safetensors(tmp_path / "b.safetensors", {"model.layers.1.q.weight": [32, 16]})
    write_safetensors(tmp_path / "stray.safetensors", {"ignored.weight": [1, 1]})
    index = {
        "weight_map": {
            "model.layers.0.q.weight": "a.safetensors",
            "model.layers.1.q.weight": "b.safetensors",
        }
    }
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert base_weight_shapes(tmp_path) == {
        "model.layers.0.q.weight": [32, 16],
        "model.layers.1.q.weight": [32, 16],
    }


def test_lora_a_is_rank_by_in_and_lora_b_out_by_rank() -> None:
    base = {"model.layers.0.q.weight": [32, 16], "model.norm.weight": [16]}
    fits = {
        "base_model.model.model.layers.0.q.lora_A.weight": {"shape": [4, 16]},
        "base_model.model.model.layers.0.q.lora_B.weight": {"shape": [32, 4]},
    }
    assert shape_problems(fits, base, rank=4) == []
    swapped = {
        "base_model.model.model.layers.0.q.lora_A.weight": {"shape": [4, 32]},
        "base_model.model.model.layers.0.q.lora_B.weight": {"shape": [16, 4]},
    }
    (problem,) = shape_problems(swapped, base, rank=4)
    assert "lora_A.weight is [4, 32], the base needs [4, 16]" in problem
    elsewhere = {
        "base_model.model.model.layers.7.q.lora_A.weight": {"shape": [4, 16]},
        "base_model.model.model.norm.lora_A.weight": {"shape": [4, 16]},
    }
    missing, not_linear = shape_problems(elsewhere, base, rank=4)
    assert "model.layers.7.q" in missing
    assert "not a linear layer" in not_linear
