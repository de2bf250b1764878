"""A trainer whose scratch disk fills up fails with ``storage_full``, not a crash.

The attempt's working directory is a tmpfs too small for a checkpoint (the run's config fits);
the training process reports the full disk and ``LoraTrainer`` raises ``TrainingFailed``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_runner.trainer import LoraTrainer
from gpu_runner.training.config import LoraTrainerSettings
from service.jobs.trainer_contract import STORAGE_FULL_CODE, TrainingFailed
from tests.support.lora import RecordingControl, training_spec
from tests.support.small_disk import small_tmpfs

FAST = LoraTrainerSettings(base_learning_rate=3e-3, poll_interval_s=0.05, stop_grace_s=30)
SCRATCH_BYTES = 256 << 10  # the run config fits; the first checkpoint's weights do not


async def test_a_full_scratch_disk_fails_the_run_with_storage_full(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    with small_tmpfs(tmp_path / "scratch", SCRATCH_BYTES) as scratch:
        spec = training_spec(learnable_model, phrase_file, scratch / "work", n_epochs=2)
        with pytest.raises(TrainingFailed) as failed:
            await LoraTrainer(FAST).train(spec, RecordingControl(keep_dir=tmp_path / "kept"))

    assert failed.value.code == STORAGE_FULL_CODE
    assert failed.value.message.startswith("The checkpoint at step")
    assert "disk is full" in failed.value.message
