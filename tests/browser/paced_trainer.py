"""The real LoRA trainer, with its metrics relayed at a steady pace.

On the tiny model a whole run can take less time than one poll of the event stream, so a chart
would get every point at once on a quiet machine. Pacing the relay (not the training) makes the
points reach the console over seconds however fast the CPU is, while the adapter, its metrics
and its checkpoints stay those of a real run. ``FTAPI_TEST_METRICS_PACE_S`` sets the pace.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from gpu_runner.trainer import LoraTrainer
from service.jobs.trainer_contract import (
    EvaluationReport,
    StepMetrics,
    StopReason,
    TrainingControl,
    TrainingResult,
    TrainingSpec,
)


class _PacedControl:
    """Waits ``pace_s`` before passing each step's metrics on; passes the rest on at once."""

    def __init__(self, control: TrainingControl, pace_s: float) -> None:
        self._control = control
        self._pace_s = pace_s

    async def report_metrics(self, metrics: StepMetrics) -> None:
        await asyncio.sleep(self._pace_s)
        await self._control.report_metrics(metrics)

    async def report_evaluation(self, report: EvaluationReport) -> None:
        await self._control.report_evaluation(report)

    async def save_checkpoint(self, step: int, directory: Path, metrics: dict[str, float]) -> None:
        await self._control.save_checkpoint(step, directory, metrics)

    def stop_requested(self) -> StopReason | None:
        return self._control.stop_requested()


class PacedLoraTrainer:
    """``LoraTrainer`` whose step metrics arrive at least ``FTAPI_TEST_METRICS_PACE_S`` apart."""

    async def train(self, spec: TrainingSpec, control: TrainingControl) -> TrainingResult:
        pace_s = float(os.environ.get("FTAPI_TEST_METRICS_PACE_S", "0.25"))
        return await LoraTrainer().train(spec, _PacedControl(control, pace_s))
