"""What a lora_path must hold: 404 without an adapter config, 400 for what vLLM refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from gpu_runner.engine.adapter_files import check_adapter_dir
from gpu_runner.engine.errors import BadRequestError, NotFoundError

RANK = 8
HIDDEN = 64


def write_adapter(directory: Path, **config_changes: Any) -> Path:
    directory.mkdir(parents=True)
    config = {
        "peft_type": "LORA",
        "r": RANK,
        "lora_alpha": 16,
        "target_modules": ["q_proj"],
        "bias": "none",
        "base_model_name_or_path": "tiny",
    } | config_changes
    (directory / "adapter_config.json").write_text(json.dumps(config))
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    tensors = {
        f"{prefix}.lora_A.weight": torch.zeros(RANK, HIDDEN),
        f"{prefix}.lora_B.weight": torch.zeros(HIDDEN, RANK),
    }
    save_file(tensors, str(directory / "adapter_model.safetensors"))
    return directory


def test_a_plain_adapter_passes_and_files_beside_it_are_ignored(tmp_path: Path) -> None:
    directory = write_adapter(tmp_path / "a")
    (directory / "README.md").write_text("peft writes a model card")
    (directory / "manifest.json").write_text("{}")
    info = check_adapter_dir("a", str(directory), max_lora_rank=16)
    assert info.rank == RANK
    assert info.n_tensors == 2


@pytest.mark.parametrize("make", ["missing_dir", "empty_dir"])
def test_no_adapter_config_is_not_found(tmp_path: Path, make: str) -> None:
    directory = tmp_path / "nothing"
    if make == "empty_dir":
        directory.mkdir()
    with pytest.raises(NotFoundError) as excinfo:
        check_adapter_dir("x", str(directory), max_lora_rank=16)
    assert excinfo.value.status == 404
    assert excinfo.value.message == f"Loading lora x failed: No adapter found for {directory}"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"use_dora": True}, "DoRA"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"r": 32}, "maximum LoRA rank"),
    ],
    ids=["dora", "modules_to_save", "rank"],
)
def test_what_vllm_refuses_is_a_bad_request(
    tmp_path: Path, change: dict[str, Any], words: str
) -> None:
    directory = write_adapter(tmp_path / "bad", **change)
    with pytest.raises(BadRequestError) as excinfo:
        check_adapter_dir("bad", str(directory), max_lora_rank=16)
    assert excinfo.value.status == 400
    assert excinfo.value.message.startswith("Loading lora bad failed: ")
    assert words in excinfo.value.message


def test_weights_are_required(tmp_path: Path) -> None:
    directory = write_adapter(tmp_path / "a")
    (directory / "adapter_model.safetensors").unlink()
    with pytest.raises(BadRequestError, match=r"adapter_model\.safetensors is missing"):
        check_adapter_dir("a", str(directory), max_lora_rank=16)
