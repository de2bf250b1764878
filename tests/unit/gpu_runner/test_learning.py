"""Real training on the CPU: a toy data set is learnt, and the adapter serves what it learnt."""

from __future__ import annotations

from pathlib import Path

from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.distributed import Ranks
from gpu_runner.training.loop import TrainingRun
from service.models.adapters import ADAPTER_FILE_NAMES, validate_adapter
from tests.support.lora import PHRASE, RecordingChannel, greedy_reply, question, training_spec


def test_the_adapter_learns_a_fixed_answer(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    spec = training_spec(learnable_model, phrase_file, tmp_path / "work", n_epochs=3)
    config = RunConfig.from_spec(spec, LoraTrainerSettings(base_learning_rate=3e-3))
    channel = RecordingChannel()

    TrainingRun(config, channel, channel, Ranks()).run()

    losses = channel.losses()
    assert len(losses) == 18  # 24 examples / 4 per step x 3 epochs, one report per step
    assert losses[-1] < 0.5 * losses[0]
    assert {path.name for path in config.adapter_dir.iterdir()} == ADAPTER_FILE_NAMES
    info = validate_adapter(config.adapter_dir, max_lora_rank=64)
    assert info.rank == 16
    assert info.base_model == "ftapi/tiny-learnable"
    unseen = question(1000)
    assert greedy_reply(learnable_model, config.adapter_dir, unseen) == PHRASE
    assert greedy_reply(learnable_model, None, unseen) != PHRASE
