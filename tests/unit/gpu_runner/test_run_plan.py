"""The pure parts of a run: step plan, learning-rate schedule, run config, message protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_runner.training.config import LearningRateSchedule, LoraTrainerSettings, RunConfig
from gpu_runner.training.data import StepPlan, load_training_data
from gpu_runner.training.errors import UnusableTrainingDataError
from gpu_runner.training.messages import (
    CheckpointWritten,
    Failed,
    Finished,
    Message,
    Metrics,
    Started,
    Stopped,
    decode,
    encode,
)
from gpu_runner.training.schedule import learning_rate_at, warmup_steps
from service.datasets.for_gpu_runner import ChatTokenizer
from tests.support.lora import training_spec


def test_each_epoch_visits_every_unit_once_in_a_seeded_order() -> None:
    plan = StepPlan(n_units=10, batch_size=4, n_epochs=2, seed=3)

    epochs = [
        [unit for step in range(e * 3, e * 3 + 3) for unit in plan.units_for_step(step)]
        for e in range(2)
    ]

    assert plan.steps_per_epoch == 3
    assert plan.total_steps == 6
    assert [len(plan.units_for_step(step)) for step in range(3)] == [4, 4, 2]
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(10))
    assert epochs[0] != epochs[1]  # reshuffled per epoch
    again = StepPlan(n_units=10, batch_size=4, n_epochs=2, seed=3)
    assert [again.units_for_step(step) for step in (5, 0)] == [
        plan.units_for_step(5),
        plan.units_for_step(0),
    ]  # a step's units depend on the step alone, in any order of asking
    assert StepPlan(10, 4, 2, seed=4).units_for_step(0) != plan.units_for_step(0)


def test_a_batch_larger_than_the_data_is_one_step_per_epoch() -> None:
    assert StepPlan(n_units=3, batch_size=8, n_epochs=2, seed=0).total_steps == 2


def test_the_schedule_warms_up_then_decays_without_reaching_zero() -> None:
    linear = [
        learning_rate_at(
            step, peak=1.0, total_steps=10, warmup=2, schedule=LearningRateSchedule.LINEAR
        )
        for step in range(10)
    ]
    cosine = [
        learning_rate_at(
            step, peak=1.0, total_steps=10, warmup=2, schedule=LearningRateSchedule.COSINE
        )
        for step in range(10)
    ]

    assert linear[:3] == [0.5, 1.0, 1.0]
    assert linear == sorted(linear[:2]) + sorted(linear[2:], reverse=True)
    assert linear[-1] == pytest.approx(1 / 8)
    assert cosine[2] == 1.0
    assert 0 < cosine[-1] < linear[-1]
    assert warmup_steps(100, 0.03) == 3
    assert warmup_steps(10, 0.0) == 0


def test_the_run_config_caps_the_rank_and_scales_the_rate(tmp_path: Path) -> None:
    spec = training_spec(
        tmp_path, tmp_path / "t.jsonl", tmp_path / "w", max_lora_rank=8, learning_rate_multiplier=2
    )

    config = RunConfig.from_spec(spec, LoraTrainerSettings(lora_rank=32, base_learning_rate=1e-4))

    assert config.lora_rank == 8
    assert config.lora_alpha == 16
    assert config.learning_rate == pytest.approx(2e-4)
    assert config.beta == 0.1  # DPO's default, unused by supervised runs
    assert RunConfig.model_validate_json(config.model_dump_json()) == config


def test_the_base_models_own_learning_rate_replaces_the_trainers(tmp_path: Path) -> None:
    spec = training_spec(
        tmp_path,
        tmp_path / "t.jsonl",
        tmp_path / "w",
        base_learning_rate=2e-3,
        learning_rate_multiplier=1.5,
    )

    config = RunConfig.from_spec(spec, LoraTrainerSettings(base_learning_rate=1e-4))

    assert config.learning_rate == pytest.approx(3e-3)


def test_settings_refuse_a_rank_vllm_cannot_serve() -> None:
    with pytest.raises(ValueError, match="lora_rank"):
        LoraTrainerSettings(lora_rank=24)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTAPI_LORA_BASE_LEARNING_RATE", "0.003")
    monkeypatch.setenv("FTAPI_LORA_PACKING", "false")

    settings = LoraTrainerSettings()

    assert settings.base_learning_rate == 0.003
    assert settings.packing is False


def test_messages_round_trip() -> None:
    messages: list[Message] = [
        Started(12, 40),
        Metrics(3, 12, {"train_loss": 1.5}),
        CheckpointWritten(6, "/work/ckpt", {"train_loss": 1.0}),
        Stopped(6),
        Finished("/work/adapter", 1234, 12),
        Failed("out_of_memory", "smaller batch"),
    ]

    assert [decode(encode(message)) for message in messages] == messages
    assert encode(Stopped(1)).endswith(b"\n")
    with pytest.raises(ValueError, match="not a message"):
        decode(b"Loading weights: 100%")
    with pytest.raises(ValueError, match="malformed"):
        decode(b'{"kind": "stopped"}')


def test_unusable_examples_are_skipped_and_an_empty_file_fails(
    learnable_model: Path, tmp_path: Path
) -> None:
    tokenizer = ChatTokenizer.from_model_dir(learnable_model, max_seq_length=32)
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}
    answer_cut_off = {  # the answer lies beyond max_seq_length: nothing left to train
        "messages": [
            {"role": "user", "content": "tea " * 60},
            {"role": "assistant", "content": "ok"},
        ]
    }
    mixed = tmp_path / "mixed.jsonl"
    lines = (json.dumps(e) for e in (good, answer_cut_off, good))
    mixed.write_text("\n".join(lines) + "\nnot json\n")
    hopeless = tmp_path / "hopeless.jsonl"
    hopeless.write_text(json.dumps(answer_cut_off) + "\n")

    data = load_training_data(mixed, tokenizer, "supervised")

    assert len(data.units) == 2  # the invalid line is skipped by validation already
    assert data.n_dropped == 1
    assert data.units[0].n_targets == sum(data.units[0].sequences[0].trained[1:])
    assert len(data.fingerprint) == 64
    with pytest.raises(UnusableTrainingDataError):
        load_training_data(hopeless, tokenizer, "supervised")


def test_legacy_completion_files_train_too(learnable_model: Path, tmp_path: Path) -> None:
    tokenizer = ChatTokenizer.from_model_dir(learnable_model, max_seq_length=128)
    path = tmp_path / "completion.jsonl"
    path.write_text(json.dumps({"prompt": "2+2=", "completion": " 4"}) + "\n")

    (unit,) = load_training_data(path, tokenizer, "supervised").units

    assert unit.n_targets >= 1
