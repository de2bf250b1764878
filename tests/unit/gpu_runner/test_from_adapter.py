"""A job that starts from a fine-tuned model trains that model's adapter further.

One adapter ``A`` (rank 8 on five of the seven projections, where the settings say rank 16
on all seven) is trained once on the phrase data; the tests start from it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gpu_runner.trainer import INVALID_INITIAL_MODEL_CODE, LoraTrainer
from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.distributed import Ranks
from gpu_runner.training.loop import TrainingRun
from gpu_runner.training.model import REFERENCE_ADAPTER
from service.jobs.trainer_contract import TrainingFailed
from service.models.adapters import ADAPTER_CONFIG_NAME, InvalidAdapterError, validate_adapter
from tests.support.lora import (
    PHRASE,
    RecordingChannel,
    RecordingControl,
    greedy_reply,
    phrase_jsonl,
    preference_jsonl,
    question,
    training_spec,
)

A_TARGETS = ("q_proj", "v_proj", "gate_proj", "up_proj", "down_proj")
SETTINGS = LoraTrainerSettings(base_learning_rate=3e-3)


@dataclass(frozen=True)
class TrainedAdapter:
    directory: Path
    losses: list[float]


@pytest.fixture(scope="module")
def trained_a(learnable_model: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedAdapter:
    """An adapter that learnt to answer ``PHRASE`` (rank 8, some projections only)."""
    root = tmp_path_factory.mktemp("adapter-a")
    data = root / "train.jsonl"
    data.write_bytes(phrase_jsonl(24))
    spec = training_spec(
        learnable_model, data, root / "work", n_epochs=3, lora_target_modules=A_TARGETS
    )
    settings = LoraTrainerSettings(base_learning_rate=3e-3, lora_rank=8)
    config = RunConfig.from_spec(spec, settings)
    return TrainedAdapter(config.adapter_dir, _run(config).losses())


@pytest.fixture
def adapter_a(trained_a: TrainedAdapter) -> Path:
    """Adapter A's directory."""
    return trained_a.directory


def _run(config: RunConfig) -> RecordingChannel:
    channel = RecordingChannel()
    TrainingRun(config, channel, channel, Ranks()).run()
    return channel


def test_training_continues_from_the_adapter_with_its_shape(
    learnable_model: Path, trained_a: TrainedAdapter, phrase_file: Path, tmp_path: Path
) -> None:
    adapter_a = trained_a.directory
    fresh = RunConfig.from_spec(
        training_spec(learnable_model, phrase_file, tmp_path / "fresh", n_epochs=1), SETTINGS
    )
    continued = RunConfig.from_spec(
        training_spec(
            learnable_model,
            phrase_file,
            tmp_path / "continued",
            n_epochs=1,
            initial_adapter_dir=adapter_a,
        ),
        SETTINGS,
    )
    assert (continued.lora_rank, continued.lora_alpha) == (8, 16.0)  # A's, not the settings'
    assert set(continued.lora_target_modules) == set(A_TARGETS)

    fresh_losses = _run(fresh).losses()
    continued_losses = _run(continued).losses()

    # It starts where A ended, far below a new adapter's start.
    assert continued_losses[0] < 0.5 * fresh_losses[0]
    assert continued_losses[0] == pytest.approx(trained_a.losses[-1], rel=0.25)
    info = validate_adapter(continued.adapter_dir, max_lora_rank=64)
    assert info.rank == 8
    assert set(info.target_modules) == set(A_TARGETS)
    assert info.base_model == "ftapi/tiny-learnable"
    a_weights = load_file(adapter_a / "adapter_model.safetensors")
    continued_weights = load_file(continued.adapter_dir / "adapter_model.safetensors")
    assert continued_weights.keys() == a_weights.keys()  # the trained adapter only, same names
    assert any(not torch.equal(continued_weights[k], a_weights[k]) for k in a_weights)
    assert greedy_reply(learnable_model, continued.adapter_dir, question(1001)) == PHRASE


def test_dpo_from_an_adapter_measures_against_that_adapter(
    learnable_model: Path, adapter_a: Path, tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes(preference_jsonl(8))
    spec = training_spec(
        learnable_model,
        pairs,
        tmp_path / "work",
        method="dpo",
        beta=0.1,
        n_epochs=2,
        initial_adapter_dir=adapter_a,
    )
    # No dropout: with it the policy would differ from the reference even at step 1.
    settings = LoraTrainerSettings(base_learning_rate=2e-3, lora_dropout=0.0)
    config = RunConfig.from_spec(spec, settings)
    channel = RecordingChannel()
    run = TrainingRun(config, channel, channel, Ranks())
    assert REFERENCE_ADAPTER in run.model.peft_config
    reference_before = {
        name: parameter.detach().clone()
        for name, parameter in run.model.named_parameters()
        if f".{REFERENCE_ADAPTER}." in name
    }
    assert reference_before
    assert not any(p.requires_grad for p in reference_before.values())

    run.run()

    # Step 1 starts where the reference is: A itself, not the base (which A moved far away).
    margins = channel.losses("train_reward_margin")
    assert margins[0] == pytest.approx(0.0, abs=1e-6)
    assert channel.losses("train_loss")[0] == pytest.approx(0.6931, abs=1e-3)
    assert margins[-1] > margins[0]
    for name, parameter in run.model.named_parameters():
        if name in reference_before:
            assert torch.equal(parameter.detach(), reference_before[name])
    saved = load_file(config.adapter_dir / "adapter_model.safetensors")
    assert not any(REFERENCE_ADAPTER in name for name in saved)
    validate_adapter(config.adapter_dir, max_lora_rank=64)


def test_an_adapter_of_another_base_is_refused_before_training(
    learnable_model: Path, adapter_a: Path, phrase_file: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "foreign"
    shutil.copytree(adapter_a, foreign)
    config_path = foreign / ADAPTER_CONFIG_NAME
    adapter_config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps(adapter_config | {"base_model_name_or_path": "other/base"}))
    spec = training_spec(
        learnable_model, phrase_file, tmp_path / "work", initial_adapter_dir=foreign
    )

    with pytest.raises(InvalidAdapterError, match="other/base"):
        RunConfig.from_spec(spec, SETTINGS)
    with pytest.raises(TrainingFailed) as failure:
        asyncio.run(LoraTrainer(SETTINGS).train(spec, RecordingControl(tmp_path / "kept")))
    assert failure.value.code == INVALID_INITIAL_MODEL_CODE
    assert "other/base" in failure.value.message


def test_a_resumed_run_takes_its_weights_from_the_checkpoint(
    learnable_model: Path, adapter_a: Path, phrase_file: Path, tmp_path: Path
) -> None:
    def config(workdir: Path, **spec: object) -> RunConfig:
        return RunConfig.from_spec(
            training_spec(
                learnable_model, phrase_file, workdir, initial_adapter_dir=adapter_a, **spec
            ),
            SETTINGS,
        )

    first = RecordingChannel(stop_after_checkpoint=True)
    TrainingRun(config(tmp_path / "first"), first, first, Ranks()).run()
    (checkpoint,) = first.of_kind("checkpoint")
    directory = Path(checkpoint.directory)  # type: ignore[attr-defined]

    channel = RecordingChannel()
    resumed = TrainingRun(
        config(tmp_path / "second", resume_from=directory, resume_step=6), channel, channel, Ranks()
    )
    assert resumed._resume() == 6

    saved = load_file(directory / "adapter" / "adapter_model.safetensors")
    a_weights = load_file(adapter_a / "adapter_model.safetensors")
    state = {
        name.replace(".default", ""): tensor
        for name, tensor in resumed.model.state_dict().items()
        if "lora_" in name
    }
    assert saved.keys() == state.keys()
    for name, tensor in saved.items():
        torch.testing.assert_close(state[name], tensor)  # the checkpoint's, not A's
    assert any(not torch.equal(saved[name], a_weights[name]) for name in saved)


async def test_the_child_process_trains_the_starting_adapter_further(
    learnable_model: Path, adapter_a: Path, phrase_file: Path, tmp_path: Path
) -> None:
    spec = training_spec(
        learnable_model, phrase_file, tmp_path / "work", n_epochs=1, initial_adapter_dir=adapter_a
    )
    fast = LoraTrainerSettings(base_learning_rate=3e-3, poll_interval_s=0.05, stop_grace_s=30)

    result = await LoraTrainer(fast).train(spec, RecordingControl(keep_dir=tmp_path / "kept"))

    info = validate_adapter(result.adapter_dir, max_lora_rank=64)
    assert (info.rank, set(info.target_modules)) == (8, set(A_TARGETS))
    start = load_file(adapter_a / "adapter_model.safetensors")
    trained = load_file(result.adapter_dir / "adapter_model.safetensors")
    assert trained.keys() == start.keys()
    assert any(not torch.equal(trained[name], start[name]) for name in start)
