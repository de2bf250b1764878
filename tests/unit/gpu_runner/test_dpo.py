"""DPO on a toy preference set: the reward margin starts at zero and rises."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.data import load_training_data
from gpu_runner.training.distributed import Ranks
from gpu_runner.training.loop import TrainingRun
from service.datasets.for_gpu_runner import ChatTokenizer
from service.models.adapters import validate_adapter
from tests.support.lora import RecordingChannel, training_spec


def test_the_reward_margin_rises(
    learnable_model: Path, preference_file: Path, tmp_path: Path
) -> None:
    spec = training_spec(
        learnable_model,
        preference_file,
        tmp_path / "work",
        method="dpo",
        beta=0.1,
        n_epochs=3,
        validation_file=preference_file,
    )
    settings = LoraTrainerSettings(base_learning_rate=2e-3, eval_every_steps=6)
    config = RunConfig.from_spec(spec, settings)
    channel = RecordingChannel()

    TrainingRun(config, channel, channel, Ranks()).run()

    margins = channel.losses("train_reward_margin")
    losses = channel.losses("train_loss")
    assert len(margins) == 12  # 16 pairs, 4 per step, 3 epochs
    assert margins[0] == pytest.approx(0.0, abs=1e-6)  # the adapter starts as the identity
    assert losses[0] == pytest.approx(0.6931, abs=1e-3)  # -log sigmoid(0)
    assert margins[-1] > 1.0
    assert losses[-1] < 0.5 * losses[0]
    assert channel.losses("train_reward_accuracy")[-1] == 1.0
    assert channel.losses("full_valid_reward_margin")[-1] > 1.0
    validate_adapter(config.adapter_dir, max_lora_rank=64)


def test_pairs_are_tokenized_by_the_dataset_code(
    learnable_model: Path, preference_file: Path
) -> None:
    tokenizer = ChatTokenizer.from_model_dir(learnable_model, max_seq_length=128)

    data = load_training_data(preference_file, tokenizer, "dpo")

    assert len(data.units) == 16
    chosen, rejected = data.units[0].sequences
    first_trained = chosen.trained.index(True)
    assert chosen.input_ids[:first_trained] == rejected.input_ids[:first_trained]
    assert tokenizer.decode(
        [t for t, on in zip(chosen.input_ids, chosen.trained, strict=True) if on]
    ).startswith("The capital of France is Paris.")
