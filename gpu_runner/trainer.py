"""``LoraTrainer``: the runner contract's trainer, training in child processes.

The gpu worker's event loop must stay free for its heartbeat and for cancel and pause, so the
training itself runs in separate processes (``gpu_runner.process``; the loop is
``gpu_runner.training.loop``). This class supervises them: it relays their progress messages
to the ``TrainingControl``, polls ``stop_requested`` between messages, and maps every way a run
can end onto the contract:

- finished: the adapter is validated (``validate_adapter``) and returned;
- cancelled: the process group is killed at once, ``TrainingStopped(CANCELLED)``;
- paused or shutdown: SIGTERM; the processes checkpoint at the next step boundary, the
  checkpoint is stored, ``TrainingStopped(reason)``;
- this coroutine cancelled (the worker got SIGTERM): the same checkpoint dance, bounded by
  ``stop_grace_s``, then ``CancelledError`` again;
- a failure the user can act on (out of memory, divergence, a starting adapter that is not
  servable or not of this base, a 4-bit base where none can run): ``TrainingFailed(code, …)``;
- a crash: ``TrainingFailed("training_error", …)``; the stderr tail goes to the log only.

Configure with ``FTAPI_TRAINER__IMPORT_PATH=gpu_runner.trainer:LoraTrainer`` and the
``FTAPI_LORA_*`` settings (``gpu_runner.training.config.LoraTrainerSettings``).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

from gpu_runner.process import RankEvent, TrainingProcesses
from gpu_runner.training.config import DeviceKind, LoraTrainerSettings, RunConfig
from gpu_runner.training.errors import INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE
from gpu_runner.training.messages import (
    CheckpointWritten,
    Evaluated,
    Failed,
    Finished,
    Metrics,
    Started,
    Stopped,
)
from service.jobs.trainer_contract import (
    EvaluationPhase,
    EvaluationReport,
    StepMetrics,
    StopReason,
    TrainingControl,
    TrainingFailed,
    TrainingResult,
    TrainingSpec,
    TrainingStopped,
)
from service.models.adapters import InvalidAdapterError, validate_adapter

logger = logging.getLogger(__name__)

RUN_CONFIG_NAME = "run-config.json"
INVALID_INITIAL_MODEL_CODE = "invalid_model"
EXIT_GRACE_S = 3.0  # after a rank dies, how long to wait for rank 0's explanation


class LoraTrainer:
    """Trains LoRA adapters (supervised or DPO) in child processes; see the module docstring."""

    def __init__(self, settings: LoraTrainerSettings | None = None) -> None:
        self._settings = settings if settings is not None else LoraTrainerSettings()
        self._gpu_count: int | None = None

    async def train(self, spec: TrainingSpec, control: TrainingControl) -> TrainingResult:
        """Run one training attempt of ``spec`` to its end (see the module docstring)."""
        try:
            config = await asyncio.to_thread(RunConfig.from_spec, spec, self._settings)
        except InvalidAdapterError as exc:  # the fine-tuned model the job starts from
            raise TrainingFailed(
                INVALID_INITIAL_MODEL_CODE,
                "The fine-tuned model this job starts from cannot be trained further: "
                + " ".join(exc.problems),
            ) from exc
        config_path = spec.workdir / RUN_CONFIG_NAME
        await asyncio.to_thread(_write_config, config_path, config)
        world_size = await self._world_size()
        processes = await TrainingProcesses.start(config_path, world_size)
        supervisor = _Supervisor(processes, control, spec, self._settings)
        try:
            return await supervisor.run()
        except asyncio.CancelledError:
            await supervisor.checkpoint_before_exit()
            raise
        finally:
            await processes.close()

    async def _world_size(self) -> int:
        if self._settings.processes:
            return self._settings.processes
        if self._settings.device is DeviceKind.CPU:
            return 1
        if self._gpu_count is None:
            self._gpu_count = await asyncio.to_thread(_visible_gpu_count)
        return max(1, self._gpu_count)


class _Supervisor:
    """Relays one run's messages and turns its ending into the contract's outcome."""

    def __init__(
        self,
        processes: TrainingProcesses,
        control: TrainingControl,
        spec: TrainingSpec,
        settings: LoraTrainerSettings,
    ) -> None:
        self._processes = processes
        self._control = control
        self._spec = spec
        self._settings = settings
        self._stop_sent: StopReason | None = None
        self._stop_deadline = 0.0

    async def run(self) -> TrainingResult:
        while True:
            self._check_stop()
            event = await self._processes.next_event(self._settings.poll_interval_s)
            if event is None:
                if self._stop_sent is not None and time.monotonic() > self._stop_deadline:
                    logger.warning(
                        "training did not stop within %.0f s; killed",
                        self._settings.stop_grace_s,
                        extra={"job_id": self._spec.job_id},
                    )
                    raise TrainingStopped(self._stop_sent)
                continue
            result = await self._handle(event)
            if result is not None:
                return result

    async def checkpoint_before_exit(self) -> None:
        """Ask for a checkpoint, store it if it comes within the grace period, then return."""
        if not self._processes.running():
            return
        self._processes.request_checkpoint()
        deadline = time.monotonic() + self._settings.stop_grace_s
        while (remaining := deadline - time.monotonic()) > 0:
            event = await self._processes.next_event(min(remaining, 1.0))
            if event is None:
                if not self._processes.running():
                    return
                continue
            message = event.message
            if event.rank != 0:
                continue  # rank 0 writes and reports the checkpoint; others may exit first
            if isinstance(message, CheckpointWritten):
                await self._store_checkpoint(message)
            elif message is None or isinstance(message, Stopped | Finished | Failed):
                return
        logger.warning("no checkpoint before shutdown", extra={"job_id": self._spec.job_id})

    def _check_stop(self) -> None:
        reason = self._control.stop_requested()
        if reason is None or self._stop_sent is not None:
            return
        if reason is StopReason.CANCELLED:
            self._processes.kill()
            raise TrainingStopped(reason)
        self._processes.request_checkpoint()
        self._stop_sent = reason
        self._stop_deadline = time.monotonic() + self._settings.stop_grace_s

    async def _handle(self, event: RankEvent) -> TrainingResult | None:
        message = event.message
        if message is None:
            await self._after_exit(event)
            return None
        if isinstance(message, Failed):
            self._raise_failure(message)
        if event.rank != 0:
            return None  # other ranks only ever report failures
        if isinstance(message, Started):
            logger.info(
                "training started: %d steps, %d examples",
                message.total_steps,
                message.n_examples,
                extra={"job_id": self._spec.job_id},
            )
        elif isinstance(message, Metrics):
            await self._control.report_metrics(
                StepMetrics(message.step, message.total_steps, message.values)
            )
        elif isinstance(message, CheckpointWritten):
            await self._store_checkpoint(message)
        elif isinstance(message, Evaluated):
            await self._control.report_evaluation(
                EvaluationReport(
                    EvaluationPhase(message.phase), message.step, message.values, message.seconds
                )
            )
        elif isinstance(message, Stopped):
            # Stopped without being asked: someone else sent SIGTERM; hand the job back.
            raise TrainingStopped(self._stop_sent or StopReason.SHUTDOWN)
        elif isinstance(message, Finished):
            if self._stop_sent is not None:
                raise TrainingStopped(self._stop_sent)  # too late to stop; resume ends it
            return await self._result(message)
        return None

    async def _after_exit(self, event: RankEvent) -> None:
        if event.rank != 0 and event.exit_code == 0:
            return
        if self._stop_sent is not None:
            raise TrainingStopped(self._stop_sent)
        # Another rank died without a word: rank 0 may still explain (e.g. that rank's failure
        # made a collective fail). Rank 0's own messages all come before its exit.
        deadline = time.monotonic() + (EXIT_GRACE_S if event.rank != 0 else 0.0)
        while (remaining := deadline - time.monotonic()) > 0:
            later = await self._processes.next_event(remaining)
            if later is None:
                break
            if isinstance(later.message, Failed):
                self._raise_failure(later.message)
        logger.error(
            "training process %d exited with %s\n%s",
            event.rank,
            event.exit_code,
            self._processes.stderr_tail(),
            extra={"job_id": self._spec.job_id},
        )
        raise TrainingFailed(INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE)

    def _raise_failure(self, failed: Failed) -> None:
        log = logger.error if failed.code == INTERNAL_ERROR_CODE else logger.info
        log(
            "training failed (%s): %s\n%s",
            failed.code,
            failed.message,
            self._processes.stderr_tail(),
            extra={"job_id": self._spec.job_id},
        )
        raise TrainingFailed(failed.code, failed.message)

    async def _store_checkpoint(self, message: CheckpointWritten) -> None:
        directory = Path(message.directory)
        await self._control.save_checkpoint(message.step, directory, message.values)
        # Stored: the local copy only takes scratch space now.
        await asyncio.to_thread(shutil.rmtree, directory, True)

    async def _result(self, finished: Finished) -> TrainingResult:
        adapter_dir = Path(finished.adapter_dir)
        try:
            await asyncio.to_thread(
                validate_adapter, adapter_dir, max_lora_rank=self._spec.max_lora_rank
            )
        except InvalidAdapterError as exc:
            logger.error("trained adapter is invalid: %s", exc, extra={"job_id": self._spec.job_id})
            raise TrainingFailed(INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE) from exc
        return TrainingResult(
            adapter_dir=adapter_dir,
            trained_tokens=finished.trained_tokens,
            total_steps=finished.total_steps,
            stopped_early_at=finished.stopped_early_at,
            parity_probes=finished.parity_probes,
        )


def _write_config(path: Path, config: RunConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config.model_dump_json(indent=2), encoding="utf-8")


def _visible_gpu_count() -> int:
    import torch

    count: int = torch.cuda.device_count()  # NVML-based: no CUDA context in this process
    return count
