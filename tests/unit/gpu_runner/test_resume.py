"""Checkpoints: safetensors and JSON only, and a resumed run ends exactly where an uninterrupted
one does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gpu_runner.training.checkpoint import CheckpointMismatchError
from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.distributed import Ranks
from gpu_runner.training.loop import TrainingRun
from gpu_runner.training.messages import CheckpointWritten, Stopped
from service.models.adapters import ADAPTER_WEIGHTS_NAME, validate_adapter
from tests.support.lora import RecordingChannel, phrase_jsonl, training_spec

# Dropout on, so the resumed run must also restore the random generator to match.
SETTINGS = LoraTrainerSettings(base_learning_rate=2e-3, lora_dropout=0.1)


def _run(
    model: Path, data: Path, workdir: Path, *, stop_after_checkpoint: bool = False, **spec: object
) -> tuple[RunConfig, RecordingChannel]:
    config = RunConfig.from_spec(training_spec(model, data, workdir, n_epochs=2, **spec), SETTINGS)
    channel = RecordingChannel(stop_after_checkpoint=stop_after_checkpoint)
    TrainingRun(config, channel, channel, Ranks()).run()
    return config, channel


def test_a_resumed_run_ends_with_the_same_adapter(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    whole, whole_channel = _run(learnable_model, phrase_file, tmp_path / "whole")
    _, first_channel = _run(
        learnable_model, phrase_file, tmp_path / "first", stop_after_checkpoint=True
    )
    (checkpoint,) = first_channel.of_kind("checkpoint")
    assert isinstance(checkpoint, CheckpointWritten)
    assert checkpoint.step == 6  # the end of the first epoch (24 examples, 4 per step)
    assert first_channel.of_kind("stopped") == [Stopped(6)]
    assert not first_channel.of_kind("finished")

    resumed, resumed_channel = _run(
        learnable_model,
        phrase_file,
        tmp_path / "second",
        resume_from=Path(checkpoint.directory),
        resume_step=6,
    )

    whole_weights = load_file(whole.adapter_dir / ADAPTER_WEIGHTS_NAME)
    resumed_weights = load_file(resumed.adapter_dir / ADAPTER_WEIGHTS_NAME)
    assert whole_weights.keys() == resumed_weights.keys()
    for name, tensor in whole_weights.items():
        torch.testing.assert_close(resumed_weights[name], tensor, rtol=1e-5, atol=1e-7)
    assert resumed_channel.losses() == pytest.approx(whole_channel.losses()[6:], rel=1e-5)
    assert resumed_channel.of_kind("metrics")[0].step == 7  # type: ignore[attr-defined]


def test_a_checkpoint_holds_only_safetensors_and_json(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    _, channel = _run(learnable_model, phrase_file, tmp_path / "run", stop_after_checkpoint=True)
    (checkpoint,) = channel.of_kind("checkpoint")
    directory = Path(checkpoint.directory)  # type: ignore[attr-defined]

    names = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())

    assert names == [
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "optimizer.safetensors",
        "rng-rank0.safetensors",
        "trainer_state.json",
    ]
    assert validate_adapter(directory / "adapter", max_lora_rank=64).rank == 16
    optimizer = load_file(directory / "optimizer.safetensors")
    assert {name.rsplit(".", 1)[1] for name in optimizer} == {"exp_avg", "exp_avg_sq", "step"}


def test_a_checkpoint_of_other_data_is_refused(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    _, channel = _run(learnable_model, phrase_file, tmp_path / "run", stop_after_checkpoint=True)
    (checkpoint,) = channel.of_kind("checkpoint")
    other = tmp_path / "other.jsonl"
    other.write_bytes(phrase_jsonl(24, offset=100))

    with pytest.raises(CheckpointMismatchError):
        _run(
            learnable_model,
            other,
            tmp_path / "resumed",
            resume_from=Path(checkpoint.directory),  # type: ignore[attr-defined]
            resume_step=6,
        )
