"""``validate_adapter``: what vLLM would refuse is refused, naming the reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from gpu_runner.training.checkpoint import save_adapter
from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.model import choose_placement, load_lora_model
from service.models.adapters import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_WEIGHTS_NAME,
    InvalidAdapterError,
    validate_adapter,
)
from tests.support.lora import training_spec


@pytest.fixture(scope="module")
def trained_adapter(learnable_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An adapter as the trainer writes it (rank 16, attention and MLP projections)."""
    root = tmp_path_factory.mktemp("adapter")
    spec = training_spec(learnable_model, root / "unused.jsonl", root / "work")
    config = RunConfig.from_spec(spec, LoraTrainerSettings())
    model = load_lora_model(config, choose_placement(config, 0))
    save_adapter(root / "adapter", model)
    return root / "adapter"


@pytest.fixture
def adapter(trained_adapter: Path, tmp_path: Path) -> Path:
    """A private copy to spoil."""
    return Path(shutil.copytree(trained_adapter, tmp_path / "adapter"))


def _edit_config(adapter: Path, **changes: object) -> None:
    path = adapter / ADAPTER_CONFIG_NAME
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def _problems(adapter: Path, max_lora_rank: int = 64) -> str:
    with pytest.raises(InvalidAdapterError) as raised:
        validate_adapter(adapter, max_lora_rank=max_lora_rank)
    return " ".join(raised.value.problems)


def test_the_trainers_adapter_is_valid(adapter: Path) -> None:
    info = validate_adapter(adapter, max_lora_rank=64)

    assert info.rank == 16
    assert info.alpha == 32
    assert info.base_model == "ftapi/tiny-learnable"
    assert set(info.target_modules) == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
    }  # fmt: skip
    assert info.n_tensors == 2 * 7 * 2  # A and B, 7 modules, 2 layers


def test_dora_is_refused(adapter: Path) -> None:
    _edit_config(adapter, use_dora=True)

    assert "DoRA" in _problems(adapter)


def test_modules_to_save_is_refused(adapter: Path) -> None:
    _edit_config(adapter, modules_to_save=["lm_head"])

    assert "modules_to_save must be empty" in _problems(adapter)


def test_a_rank_outside_vllms_set_is_refused(adapter: Path) -> None:
    _edit_config(adapter, r=24)

    assert "r must be one of vLLM's ranks" in _problems(adapter)


def test_a_rank_above_the_models_maximum_is_refused(adapter: Path) -> None:
    assert "above this model's maximum LoRA rank 8" in _problems(adapter, max_lora_rank=8)


def test_a_pickled_weights_file_is_refused(adapter: Path) -> None:
    (adapter / "adapter_model.bin").write_bytes(b"\x80\x04pickle")

    assert "pickled weights are not accepted (adapter_model.bin)" in _problems(adapter)


def test_other_plain_lora_rules(adapter: Path) -> None:
    _edit_config(
        adapter,
        bias="all",
        base_model_name_or_path="",
        rank_pattern={"q_proj": 8},
        peft_type="IA3",
    )

    problems = _problems(adapter)

    assert "bias must be 'none'" in problems
    assert "base_model_name_or_path must name the base model" in problems
    assert "rank_pattern and alpha_pattern must be empty" in problems
    assert "peft_type must be LORA" in problems


def test_extra_files_and_foreign_tensors_are_refused(adapter: Path) -> None:
    (adapter / "README.md").write_text("hi")
    save_file({"model.embed_tokens.weight": torch.zeros(4, 4)}, adapter / ADAPTER_WEIGHTS_NAME)

    problems = _problems(adapter)

    assert "unexpected files ['README.md']" in problems
    assert "not LoRA weights (model.embed_tokens.weight)" in problems


def test_tensors_of_another_rank_are_refused(adapter: Path) -> None:
    _edit_config(adapter, r=8)

    assert "do not have rank r=8" in _problems(adapter)


def test_a_missing_file_is_named(adapter: Path) -> None:
    (adapter / ADAPTER_WEIGHTS_NAME).unlink()

    assert f"{ADAPTER_WEIGHTS_NAME} is missing." in _problems(adapter)
