"""The merge function on the tiny model: the merged model, loaded with transformers alone,
gives base + adapter's logits; shards, dtype and the failing check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM

from gpu_runner.export import merge
from gpu_runner.export.merge import LogitsMismatch, merge_adapter, probe_logits, probe_token_ids
from tests.support.serving import write_tiny_lora
from tests.support.tiny_model import TinyModels


@pytest.fixture(scope="module")
def base_dir(tiny_models: TinyModels) -> Path:
    return tiny_models.model_dir("chatml")


@pytest.fixture(scope="module")
def adapter_dir(base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_lora(base_dir, tmp_path_factory.mktemp("adapter"), seed=5)


def test_the_merged_model_alone_gives_base_plus_adapter_logits(
    base_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "merged"
    report = merge_adapter(base_dir, adapter_dir, out, max_shard_size="200KB")

    shards = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(shards) > 1  # sharded, with an index
    assert set(report.files) == {*shards, "model.safetensors.index.json", *merge.MODEL_CONFIG_FILES}
    assert not [p for p in out.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".pkl"}]
    assert report.dtype == "float32"
    assert report.probes == 3
    assert 0 <= report.max_abs_diff <= report.tolerance

    # Recomputed here, independently of the report: the files against base + adapter.
    prompts = probe_token_ids(base_dir, None)
    reference = probe_logits(merge.with_adapter(merge.load_base(base_dir), adapter_dir), prompts)
    merged = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    merged.eval()
    got = probe_logits(merged, prompts)
    base = probe_logits(merge.load_base(base_dir), prompts)
    for want, have, plain in zip(reference, got, base, strict=True):
        torch.testing.assert_close(have, want, atol=1e-4, rtol=1e-4)
        assert float((plain - want).abs().max()) > 0.1  # the adapter matters: the check is sharp


def test_a_bf16_base_is_merged_and_saved_in_bf16(
    base_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    bf16_base = tmp_path / "bf16-base"
    model: Any = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.bfloat16)
    model.save_pretrained(bf16_base, safe_serialization=True)
    for path in base_dir.iterdir():
        if path.name.startswith(("tokenizer", "chat_template", "special_tokens")):
            shutil.copy(path, bf16_base / path.name)

    report = merge_adapter(bf16_base, adapter_dir, tmp_path / "merged")
    assert report.noise_floor > 0

    assert report.dtype == "bfloat16"
    config = json.loads((tmp_path / "merged" / "config.json").read_text())
    assert config["dtype"] == "bfloat16"
    assert report.max_abs_diff <= report.tolerance


def test_merged_weights_that_drift_fail_the_logits_check(
    base_dir: Path, adapter_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "merged"
    real_load = merge.load_base

    def drifted(directory: Path) -> Any:
        model = real_load(directory)
        if directory == out:  # the reloaded merged model: one weight nudged, as a bad merge
            with torch.no_grad():
                model.lm_head.weight.add_(1e-2)
        return model

    monkeypatch.setattr(merge, "load_base", drifted)
    with pytest.raises(LogitsMismatch, match="differ from base \\+ adapter's by"):
        merge_adapter(base_dir, adapter_dir, out)


def test_the_tolerance_scales_with_the_dtype() -> None:
    reference = [torch.tensor([[10.0, -10.0]])]
    close = [torch.tensor([[10.005, -10.0]])]
    assert merge.compare_logits(reference, close, torch.float32)[0] == pytest.approx(5e-3, rel=1e-2)
    with pytest.raises(LogitsMismatch):
        merge.compare_logits(reference, [torch.tensor([[10.02, -10.0]])], torch.float32)
    merge.compare_logits(reference, [torch.tensor([[10.1, -10.0]])], torch.bfloat16)
    with pytest.raises(LogitsMismatch):
        merge.compare_logits(reference, [torch.tensor([[float("nan"), -10.0]])], torch.bfloat16)
