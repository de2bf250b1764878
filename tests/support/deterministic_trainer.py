"""A deterministic stand-in trainer for tests of the job machinery (no model, no torch).

It honours the runner contract exactly: steps with a loss that falls deterministically from the
seed, metrics every step, a checkpoint per epoch (with the step to resume from), stop requests
between steps (saving a checkpoint first on pause or shutdown), and an adapter directory at the
end. Checkpoints hold their adapter in ``adapter/`` as the real trainer's do. Adapter weights are
the text ``weights-{seed}`` (``-step-{n}`` in a checkpoint), so a job started from a fine-tuned
model or checkpoint can tell which adapter it was given; the final adapter's config names the
process that trained it (``trained_by_pid``). ``FTAPI_TEST_TRAINER_STEP_S`` sets the time per
step; ``FTAPI_TEST_TRAINER_END_PAUSE_S`` a pause between the ``end`` line and handing the adapter
back (a window to stop the worker before it publishes); ``FTAPI_TEST_TRAINER_LOG`` names a file
where every attempt appends ``start``/``end`` lines (to prove no job ran twice; ``initial=``
names the adapter it started from, ``-`` for none, and ``pid=`` the worker);
``FTAPI_TEST_TRAINER_PADDING_BYTES`` adds a ``padding.bin`` of that size to every checkpoint and
to the final adapter (a stand-in for real weights, to fill a disk).
``FTAPI_TEST_TRAINER_EVAL=1`` makes a job with a validation file report an in-job evaluation as
the real trainer does: the base before the first step, graded ``valid_exact_match`` and
``valid_similarity`` (rising with the step) beside each epoch's ``valid_loss``, and the tuned
model at the end.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
from pathlib import Path

from service.jobs.trainer_contract import (
    EvaluationPhase,
    EvaluationReport,
    StepMetrics,
    StopReason,
    TrainingControl,
    TrainingResult,
    TrainingSpec,
    TrainingStopped,
)

TOKENS_PER_EXAMPLE = 10


class DeterministicTrainer:
    """Fake training with real bookkeeping."""

    async def train(self, spec: TrainingSpec, control: TrainingControl) -> TrainingResult:
        step_s = float(os.environ.get("FTAPI_TEST_TRAINER_STEP_S", "0.01"))
        n_examples = sum(1 for line in spec.training_file.read_bytes().splitlines() if line.strip())
        steps_per_epoch = max(1, math.ceil(n_examples / spec.batch_size))
        total = steps_per_epoch * spec.n_epochs
        start = 0
        if spec.resume_from is not None:
            start = json.loads((spec.resume_from / "state.json").read_text())["step"]
        initial = "-"
        if spec.initial_adapter_dir is not None:
            initial = (spec.initial_adapter_dir / "adapter_model.safetensors").read_text()
        _log(f"start {spec.job_id} from={start} pid={os.getpid()} initial={initial}")
        metrics: dict[str, float] = {}
        evaluates = (
            spec.validation_file is not None and os.environ.get("FTAPI_TEST_TRAINER_EVAL") == "1"
        )
        if evaluates and start == 0:
            await control.report_evaluation(
                EvaluationReport(EvaluationPhase.BASE, 0, _graded(0, total), seconds=0.01)
            )
        for step in range(start + 1, total + 1):
            reason = control.stop_requested()
            if reason is not None:
                if reason is not StopReason.CANCELLED and step - 1 > start:
                    await control.save_checkpoint(
                        step - 1, self._checkpoint(spec, step - 1), metrics
                    )
                _log(f"stop {spec.job_id} at={step - 1} reason={reason.value}")
                raise TrainingStopped(reason)
            await asyncio.sleep(step_s)
            metrics = {
                "train_loss": _loss(spec.seed, step),
                "train_mean_token_accuracy": min(1.0, step / total),
            }
            if spec.validation_file is not None and step % steps_per_epoch == 0:
                metrics["valid_loss"] = _loss(spec.seed + 1, step)
                metrics["valid_mean_token_accuracy"] = min(1.0, step / total)
                if evaluates:
                    metrics |= _graded(step, total)
            await control.report_metrics(StepMetrics(step=step, total_steps=total, values=metrics))
            if step % steps_per_epoch == 0 and step < total:
                await control.save_checkpoint(step, self._checkpoint(spec, step), metrics)
        if evaluates:
            await control.report_evaluation(
                EvaluationReport(EvaluationPhase.TUNED, total, _graded(total, total), seconds=0.02)
            )
        adapter = _write_adapter(
            spec, spec.workdir / "adapter", f"weights-{spec.seed}", trained_by_pid=os.getpid()
        )
        _log(f"end {spec.job_id} steps={total} pid={os.getpid()}")
        await asyncio.sleep(float(os.environ.get("FTAPI_TEST_TRAINER_END_PAUSE_S", "0")))
        return TrainingResult(
            adapter_dir=adapter,
            trained_tokens=n_examples * TOKENS_PER_EXAMPLE * spec.n_epochs,
            total_steps=total,
        )

    @staticmethod
    def _checkpoint(spec: TrainingSpec, step: int) -> Path:
        directory = spec.workdir / f"checkpoint-{step}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "state.json").write_text(json.dumps({"step": step, "seed": spec.seed}))
        _write_adapter(spec, directory / "adapter", f"weights-{spec.seed}-step-{step}")
        return directory


def _write_adapter(
    spec: TrainingSpec, adapter: Path, weights: str, *, trained_by_pid: int | None = None
) -> Path:
    adapter.mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = {
        "peft_type": "LORA",
        "r": 8,
        "base_model_name_or_path": spec.base_model_id,
    }
    if trained_by_pid is not None:
        config["trained_by_pid"] = trained_by_pid
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    (adapter / "adapter_model.safetensors").write_bytes(weights.encode())
    padding_bytes = int(os.environ.get("FTAPI_TEST_TRAINER_PADDING_BYTES", "0"))
    if padding_bytes:
        (adapter / "padding.bin").write_bytes(bytes(padding_bytes))
    return adapter


def _loss(seed: int, step: int) -> float:
    jitter = random.Random(seed * 1_000_003 + step).uniform(-0.02, 0.02)
    return round(2.0 * 0.9**step + 0.1 + jitter, 6)


def _graded(step: int, total: int) -> dict[str, float]:
    """Generation-eval scores that rise from the base (step 0) to the last step."""
    progress = step / total
    return {
        "valid_exact_match": round(0.75 * progress, 4),
        "valid_similarity": round(0.3 + 0.6 * progress, 4),
    }


def _log(line: str) -> None:
    path = os.environ.get("FTAPI_TEST_TRAINER_LOG")
    if path:
        with open(path, "a") as log:
            log.write(line + "\n")
