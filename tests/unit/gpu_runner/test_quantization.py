"""QLoRA's decision: a 4-bit base only where CUDA and bitsandbytes are, else a clear failure."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gpu_runner.training.config import DeviceKind, LoraTrainerSettings, Quantization, RunConfig
from gpu_runner.training.errors import QuantizationUnavailableError
from gpu_runner.training.model import choose_placement
from gpu_runner.training.quantization import check_quantization, nf4_options
from tests.support.lora import training_spec


@pytest.mark.parametrize(("on_cuda", "has_bitsandbytes"), [(False, False), (True, True)])
def test_no_quantization_is_always_possible(on_cuda: bool, has_bitsandbytes: bool) -> None:
    assert not check_quantization(
        Quantization.NONE, on_cuda=on_cuda, has_bitsandbytes=has_bitsandbytes
    )


def test_nf4_with_cuda_and_bitsandbytes_quantizes() -> None:
    assert check_quantization(Quantization.NF4, on_cuda=True, has_bitsandbytes=True)


@pytest.mark.parametrize(
    ("on_cuda", "has_bitsandbytes", "missing"),
    [(False, True, "CUDA GPU"), (False, False, "CUDA GPU"), (True, False, "bitsandbytes")],
)
def test_nf4_without_what_it_needs_fails_with_a_code(
    on_cuda: bool, has_bitsandbytes: bool, missing: str
) -> None:
    with pytest.raises(QuantizationUnavailableError, match=missing) as failure:
        check_quantization(Quantization.NF4, on_cuda=on_cuda, has_bitsandbytes=has_bitsandbytes)
    assert failure.value.code == "quantization_unavailable"
    assert "FTAPI_LORA_QUANTIZATION" in failure.value.message


def test_the_nf4_recipe_is_qlora() -> None:
    assert nf4_options(torch.bfloat16) == {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": torch.bfloat16,
        "bnb_4bit_use_double_quant": True,
    }


def test_the_setting_reaches_the_run_and_fails_on_the_cpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FTAPI_LORA_QUANTIZATION", "nf4")
    monkeypatch.setenv("FTAPI_LORA_DEVICE", "cpu")
    settings = LoraTrainerSettings()
    assert settings.quantization is Quantization.NF4
    spec = training_spec(tmp_path / "model", tmp_path / "train.jsonl", tmp_path / "work")
    config = RunConfig.from_spec(spec, settings)
    assert config.device is DeviceKind.CPU

    with pytest.raises(QuantizationUnavailableError, match="CPU"):
        choose_placement(config, 0)
