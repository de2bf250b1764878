"""``LoraTrainer`` end to end through its child processes: results, stops, failures."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

import psutil
import pytest
import torch
from safetensors.torch import load_file, save_file

from gpu_runner.trainer import LoraTrainer
from gpu_runner.training.config import LoraTrainerSettings
from service.jobs.trainer_contract import StopReason, TrainingFailed, TrainingStopped
from service.models.adapters import ADAPTER_FILE_NAMES, validate_adapter
from service.models.parity_probes import (
    MANIFEST_KEY,
    PROBE_MAX_TOKENS,
    PROBE_PROMPTS,
    ProbeSet,
)
from tests.support.lora import RecordingControl, training_spec

FAST = LoraTrainerSettings(base_learning_rate=3e-3, poll_interval_s=0.05, stop_grace_s=30)


def _children() -> list[psutil.Process]:
    """Training processes still alive (other children of the test run, such as servers started
    by session fixtures, are not ours to count)."""
    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.is_running() and "gpu_runner.child" in " ".join(child.cmdline()):
                alive.append(child)
        except psutil.NoSuchProcess:
            continue
    return alive


async def test_a_run_trains_in_a_child_process_and_returns_a_valid_adapter(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    spec = training_spec(learnable_model, phrase_file, tmp_path / "work", n_epochs=2)
    control = RecordingControl(keep_dir=tmp_path / "kept")

    result = await LoraTrainer(FAST).train(spec, control)

    assert [m.step for m in control.metrics] == list(range(1, 13))
    assert all(m.total_steps == 12 for m in control.metrics)
    losses = [m.values["train_loss"] for m in control.metrics]
    assert losses[-1] < 0.5 * losses[0]
    assert {"learning_rate", "tokens_per_second", "train_mean_token_accuracy"} <= set(
        control.metrics[0].values
    )
    assert [step for step, _, _ in control.checkpoints] == [6]  # epoch 1 (the last is the adapter)
    assert not (spec.workdir / "checkpoints" / "step-6").exists()  # stored, then freed
    assert result.total_steps == 12
    assert result.trained_tokens > 0
    assert {p.name for p in result.adapter_dir.iterdir()} == ADAPTER_FILE_NAMES
    validate_adapter(result.adapter_dir, max_lora_rank=64)
    probes = ProbeSet.from_manifest({MANIFEST_KEY: result.parity_probes})
    assert probes is not None
    assert [(p.name, p.kind) for p in probes.references] == [
        (prompt.name, prompt.kind) for prompt in PROBE_PROMPTS
    ]
    assert all(len(p.token_ids) == PROBE_MAX_TOKENS for p in probes.references)
    assert all(lp <= 0 for p in probes.references for lp in p.logprobs)
    assert all(m >= 0 for p in probes.references for m in p.margins)
    assert _children() == []


async def test_cancel_kills_the_processes_at_once(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    spec = training_spec(learnable_model, phrase_file, tmp_path / "work", n_epochs=50)
    control = RecordingControl(
        keep_dir=tmp_path / "kept", stop_at_step=1, stop_reason=StopReason.CANCELLED
    )

    with pytest.raises(TrainingStopped) as stopped:
        await LoraTrainer(FAST).train(spec, control)
    returned_at = time.monotonic()

    assert stopped.value.reason is StopReason.CANCELLED
    assert control.stop_requested_at is not None
    assert returned_at - control.stop_requested_at < 1.0  # killed, not asked
    assert control.checkpoints == []
    assert _children() == []


async def test_pause_checkpoints_then_stops_and_the_run_resumes(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    spec = training_spec(learnable_model, phrase_file, tmp_path / "work", n_epochs=2)
    control = RecordingControl(keep_dir=tmp_path / "kept", stop_at_step=2)

    with pytest.raises(TrainingStopped) as stopped:
        await LoraTrainer(FAST).train(spec, control)

    assert stopped.value.reason is StopReason.PAUSED
    ((step, kept, metrics),) = control.checkpoints
    assert step >= 2
    assert "train_loss" in metrics
    validate_adapter(kept / "adapter", max_lora_rank=64)  # a checkpoint is servable too
    assert _children() == []

    resumed_spec = training_spec(
        learnable_model,
        phrase_file,
        tmp_path / "work-2",
        n_epochs=2,
        resume_from=kept,
        resume_step=step,
    )
    resumed = RecordingControl(keep_dir=tmp_path / "kept-2")
    result = await LoraTrainer(FAST).train(resumed_spec, resumed)

    assert [m.step for m in resumed.metrics] == list(range(step + 1, 13))
    assert result.total_steps == 12


async def test_a_cancelled_train_call_checkpoints_before_it_ends(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    spec = training_spec(learnable_model, phrase_file, tmp_path / "work", n_epochs=50)
    control = RecordingControl(keep_dir=tmp_path / "kept")
    task = asyncio.create_task(LoraTrainer(FAST).train(spec, control))
    while not control.metrics:
        await asyncio.sleep(0.05)

    task.cancel()  # what the worker's SIGTERM does to the attempt

    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(control.checkpoints) == 1
    assert control.checkpoints[0][0] >= 1
    assert _children() == []


async def test_a_crash_is_a_training_error_with_the_stderr_in_the_log(
    learnable_model: Path, phrase_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken-model"
    shutil.copytree(learnable_model, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    spec = training_spec(broken, phrase_file, tmp_path / "work")

    with caplog.at_level(logging.ERROR), pytest.raises(TrainingFailed) as failed:
        await LoraTrainer(FAST).train(spec, RecordingControl(keep_dir=tmp_path / "kept"))

    assert failed.value.code == "training_error"
    assert "operators have the log" in failed.value.message
    assert "Traceback" in caplog.text  # the child's stderr, for operators only
    assert "Traceback" not in failed.value.message


async def test_a_killed_process_is_a_training_error(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    spec = training_spec(learnable_model, phrase_file, tmp_path / "work", n_epochs=50)

    class KillingControl(RecordingControl):
        async def report_metrics(self, metrics):  # type: ignore[no-untyped-def]
            await super().report_metrics(metrics)
            for child in _children():
                child.kill()

    with pytest.raises(TrainingFailed) as failed:
        await LoraTrainer(FAST).train(spec, KillingControl(keep_dir=tmp_path / "kept"))

    assert failed.value.code == "training_error"


async def test_a_nan_loss_fails_as_diverged_naming_the_step(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    poisoned = Path(shutil.copytree(learnable_model, tmp_path / "poisoned"))
    weights = load_file(poisoned / "model.safetensors")
    weights["lm_head.weight"][3, 0] = float("nan")
    save_file(weights, poisoned / "model.safetensors", metadata={"format": "pt"})
    spec = training_spec(poisoned, phrase_file, tmp_path / "work")

    with pytest.raises(TrainingFailed) as failed:
        await LoraTrainer(FAST).train(spec, RecordingControl(keep_dir=tmp_path / "kept"))

    assert failed.value.code == "training_diverged"
    assert "at step 1" in failed.value.message


async def test_two_gloo_processes_train_like_one(
    learnable_model: Path, phrase_file: Path, tmp_path: Path
) -> None:
    settings = LoraTrainerSettings(base_learning_rate=3e-3, lora_dropout=0.0, poll_interval_s=0.05)
    one = RecordingControl(keep_dir=tmp_path / "kept-1")
    two = RecordingControl(keep_dir=tmp_path / "kept-2")
    spec_one = training_spec(learnable_model, phrase_file, tmp_path / "one", n_epochs=2)
    spec_two = training_spec(learnable_model, phrase_file, tmp_path / "two", n_epochs=2)

    result_one = await LoraTrainer(settings.model_copy(update={"processes": 1})).train(
        spec_one, one
    )
    result_two = await LoraTrainer(settings.model_copy(update={"processes": 2})).train(
        spec_two, two
    )

    losses_one = [m.values["train_loss"] for m in one.metrics]
    losses_two = [m.values["train_loss"] for m in two.metrics]
    assert len(losses_two) == 12
    assert losses_two == pytest.approx(losses_one, rel=1e-4)
    adapter_one = load_file(result_one.adapter_dir / "adapter_model.safetensors")
    adapter_two = load_file(result_two.adapter_dir / "adapter_model.safetensors")
    for name, tensor in adapter_one.items():
        torch.testing.assert_close(adapter_two[name], tensor, rtol=1e-3, atol=1e-5)
    assert result_two.trained_tokens == result_one.trained_tokens
    ((step, checkpoint, _),) = two.checkpoints
    assert step == 6
    assert {"rng-rank0.safetensors", "rng-rank1.safetensors"} <= {
        path.name for path in checkpoint.iterdir()
    }
