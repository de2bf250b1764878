"""The gpu-queue handler: run one training attempt of a job, end to end.

Claims the job (``queued → running``, a new attempt number), downloads its inputs, keeps a
heartbeat, relays the trainer's progress into events, checkpoints into the blob store and the
checkpoints table, then publishes the adapter and finishes the job. A job whose ``model`` is a
fine-tuned model or checkpoint trains on that adapter's root base model, starting from the
adapter, and its own model is named after the root base. Cancel and pause reach the
trainer through the heartbeat: the job row is the source of truth, so whoever loses a
compare-and-set simply stops.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from service.auth.caller import Caller
from service.auth.store import ProjectStore
from service.blobstore import BlobStore
from service.blobstore.directories import download_directory, download_file, upload_directory
from service.blobstore.keys import checkpoint_prefix, file_key, model_prefix
from service.clock import Clock, to_seconds
from service.files.records import FilePurpose, FileSpec
from service.files.service import FileService
from service.ids import IdPrefix, new_id
from service.jobs import messages
from service.jobs.naming import checkpoint_model_name, fine_tuned_model_name, root_base_model
from service.jobs.records import CheckpointRecord, JobError, JobRecord
from service.jobs.service import JobService
from service.jobs.state_machine import JobStatus
from service.jobs.store import JobStore
from service.jobs.trainer_contract import (
    StepMetrics,
    StopReason,
    Trainer,
    TrainingFailed,
    TrainingResult,
    TrainingSpec,
    TrainingStopped,
)
from service.models.access import ModelAccess
from service.models.adapters import ADAPTER_CONFIG_NAME
from service.models.fine_tuned import FineTunedModelRecord, FineTunedModelStore
from service.models.registry import ModelRegistry
from service.models.sources import ModelFiles

logger = logging.getLogger(__name__)

METRICS_COLUMNS = (
    "step",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
)
_CSV_SOURCES = {  # CSV column -> metric key the trainer reports
    "train_loss": "train_loss",
    "train_accuracy": "train_mean_token_accuracy",
    "valid_loss": "valid_loss",
    "valid_mean_token_accuracy": "valid_mean_token_accuracy",
}


class RunnerBusy(Exception):
    """The project is at its running-jobs quota; try again later."""


@dataclass(frozen=True)
class RunnerSettings:
    """Timing of one runner."""

    heartbeat_interval_s: float
    max_running_per_project: int
    checkpoints_kept: int = 3


class JobRunner:
    """Runs training attempts for jobs taken from the gpu queue."""

    def __init__(
        self,
        store: JobStore,
        jobs: JobService,
        projects: ProjectStore,
        files: FileService,
        blobs: BlobStore,
        registry: ModelRegistry,
        model_files: ModelFiles,
        models: FineTunedModelStore,
        access: ModelAccess,
        trainer: Trainer,
        clock: Clock,
        settings: RunnerSettings,
    ) -> None:
        self._store = store
        self._jobs = jobs
        self._projects = projects
        self._files = files
        self._blobs = blobs
        self._registry = registry
        self._model_files = model_files
        self._models = models
        self._access = access
        self._trainer = trainer
        self._clock = clock
        self._settings = settings

    async def run(self, job_id: str) -> None:
        """Run the job's next attempt if it is queued; any other state means nothing to do."""
        job = await self._store.get_any(job_id)
        if job is None or job.status is not JobStatus.QUEUED:
            return
        running = await self._store.count_by_status(job.project_id, [JobStatus.RUNNING])
        if running >= self._settings.max_running_per_project:
            raise RunnerBusy(job_id)
        attempt = job.attempt + 1
        latest = await self._store.latest_checkpoint(job.id)
        event = messages.started() if latest is None else messages.resumed_from(latest.step_number)
        claimed = await self._store.transition(
            job.id,
            JobStatus.QUEUED,
            JobStatus.RUNNING,
            event,
            expected_attempt=job.attempt,
            attempt=attempt,
            heartbeat_us=self._clock.now_us(),
        )
        if claimed is None:
            return  # someone else claimed it, or it was cancelled/paused meanwhile
        workdir = Path(tempfile.mkdtemp(prefix=f"ftapi-{job.id}-"))
        attempt_run = _Attempt(self, claimed, workdir, started_us=self._clock.now_us())
        try:
            await attempt_run.run(latest)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    # -- used by _Attempt -------------------------------------------------------------------

    async def _spec(
        self, job: JobRecord, workdir: Path, latest: CheckpointRecord | None
    ) -> TrainingSpec:
        base = self._registry.require(root_base_model(job.model))
        inputs = workdir / "inputs"
        inputs.mkdir()
        training = inputs / "training.jsonl"
        await download_file(self._blobs, file_key(job.project_id, job.training_file), training)
        validation = None
        if job.validation_file is not None:
            validation = inputs / "validation.jsonl"
            await download_file(
                self._blobs, file_key(job.project_id, job.validation_file), validation
            )
        resume_dir = None
        if latest is not None:
            resume_dir = workdir / "resume"
            await download_directory(
                self._blobs,
                checkpoint_prefix(job.project_id, job.id, latest.step_number),
                resume_dir,
            )
        hyper = job.hyperparameters
        beta = job.method.get("dpo", {}).get("hyperparameters", {}).get("beta")
        return TrainingSpec(
            job_id=job.id,
            method=job.method_type,
            base_model_id=base.id,
            base_model_dir=await self._model_files.local_dir(base),
            max_seq_length=base.max_seq_length,
            chat_template=base.chat_template,
            lora_target_modules=base.lora_target_modules,
            max_lora_rank=base.max_lora_rank,
            training_file=training,
            validation_file=validation,
            n_epochs=int(hyper["n_epochs"]),
            batch_size=int(hyper["batch_size"]),
            learning_rate_multiplier=float(hyper["learning_rate_multiplier"]),
            beta=None if beta is None or beta == "auto" else float(beta),
            seed=job.seed,
            workdir=workdir / "train",
            resume_from=resume_dir,
            resume_step=0 if latest is None else latest.step_number,
            initial_adapter_dir=await self._initial_adapter(job, workdir),
        )

    async def _initial_adapter(self, job: JobRecord, workdir: Path) -> Path | None:
        """The adapter of the fine-tuned model or checkpoint the job starts from, downloaded."""
        if not job.model.startswith("ft:"):
            return None
        # Asked again at every attempt: a model deleted or unshared since creation is gone.
        adapter = await self._access.adapter(job.project_id, job.model)
        if adapter is None:
            raise TrainingFailed(
                "model_not_found",
                f"The model '{job.model}' this job fine-tunes was deleted or is no longer "
                "shared with this project.",
            )
        target = workdir / "initial"
        prefix = adapter.blob_prefix.removesuffix("/") + "/"
        # A published model holds the adapter at its root, a checkpoint in adapter/.
        await download_directory(self._blobs, prefix, target)
        for directory in (target, target / "adapter"):
            if (directory / ADAPTER_CONFIG_NAME).is_file():
                return directory
        raise TrainingFailed(
            "invalid_model",
            f"The model '{job.model}' has no adapter to continue training from.",
        )

    async def _caller(self, job: JobRecord) -> Caller:
        caller = await self._projects.system_caller(job.project_id)
        if caller is None:
            raise RuntimeError(f"project {job.project_id} of job {job.id} is gone")
        return caller


@dataclass
class _Attempt:
    """One claimed attempt: the trainer's ``TrainingControl`` and the attempt's bookkeeping."""

    runner: JobRunner
    job: JobRecord
    workdir: Path
    metrics_rows: list[dict[str, float]] = field(default_factory=list)
    started_us: int = 0
    _stop: StopReason | None = None

    @property
    def _store(self) -> JobStore:
        return self.runner._store

    async def run(self, latest: CheckpointRecord | None) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(), name=f"heartbeat-{self.job.id}")
        try:
            spec = await self.runner._spec(self.job, self.workdir, latest)
            spec.workdir.mkdir(parents=True, exist_ok=True)
            result = await self.runner._trainer.train(spec, self)
        except TrainingStopped as stopped:
            await self._after_stop(stopped.reason)
        except TrainingFailed as failure:
            await self._fail(JobError(code=failure.code, message=failure.message))
        except asyncio.CancelledError:
            # The worker is shutting down (SIGTERM) or arq aborted the task: hand the job back.
            await asyncio.shield(self._requeue("the worker stopped"))
            raise
        except Exception:
            logger.exception("training attempt crashed", extra={"job_id": self.job.id})
            await self._fail(
                JobError(
                    code="training_error",
                    message="Training stopped on an internal error; the operators have the log.",
                )
            )
        else:
            await self._succeed(result)
        finally:
            heartbeat.cancel()

    # -- TrainingControl --------------------------------------------------------------------

    async def report_metrics(self, metrics: StepMetrics) -> None:
        row = {"step": float(metrics.step)} | metrics.values
        self.metrics_rows.append(row)
        elapsed_us = self.runner._clock.now_us() - self.started_us
        remaining = max(metrics.total_steps - metrics.step, 0)
        eta_s = elapsed_us / 1e6 / max(metrics.step, 1) * remaining
        await self._store.update_running(
            self.job.id,
            self.job.attempt,
            estimated_finish=to_seconds(self.runner._clock.now_us()) + int(eta_s),
        )
        await self._store.add_event(
            self.job.id, messages.step_metrics(metrics.step, metrics.total_steps, metrics.values)
        )

    async def save_checkpoint(self, step: int, directory: Path, metrics: dict[str, float]) -> None:
        job = self.job
        prefix = checkpoint_prefix(job.project_id, job.id, step)
        await upload_directory(self.runner._blobs, prefix, directory, extra={"step": step})
        model = _model_name(job, await self.runner._caller(job))
        now_us = self.runner._clock.now_us()
        name = checkpoint_model_name(model, step)
        await self._store.add_checkpoint(
            CheckpointRecord(
                id=new_id(IdPrefix.CHECKPOINT),
                job_id=job.id,
                project_id=job.project_id,
                created_at=to_seconds(now_us),
                created_us=now_us,
                step_number=step,
                metrics={"step": float(step)} | metrics,
                fine_tuned_model_checkpoint=name,
            ),
            messages.checkpoint_saved(name, step),
        )
        # Like OpenAI, keep the newest few: older checkpoints (and their models) go.
        for old in await self._store.prune_checkpoints(
            job.id, self.runner._settings.checkpoints_kept
        ):
            await self.runner._blobs.delete_prefix(
                checkpoint_prefix(job.project_id, job.id, old.step_number)
            )

    def stop_requested(self) -> StopReason | None:
        return self._stop

    # -- outcomes ---------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        interval = self.runner._settings.heartbeat_interval_s
        while True:
            await asyncio.sleep(interval)
            alive = await self._store.update_running(
                self.job.id, self.job.attempt, heartbeat_us=self.runner._clock.now_us()
            )
            if alive:
                continue
            current = await self._store.get_any(self.job.id)
            if current is not None and current.status is JobStatus.PAUSED:
                self._stop = StopReason.PAUSED
            else:
                self._stop = StopReason.CANCELLED  # cancelled, or another attempt owns the job
            return

    async def _after_stop(self, reason: StopReason) -> None:
        if reason is StopReason.SHUTDOWN:
            await self._requeue("the worker is shutting down")
        # CANCELLED and PAUSED: the API already moved the job; nothing more to record.

    async def _requeue(self, why: str) -> None:
        requeued = await self._store.transition(
            self.job.id,
            JobStatus.RUNNING,
            JobStatus.QUEUED,
            messages.requeued(why),
            expected_attempt=self.job.attempt,
            heartbeat_us=None,
            estimated_finish=None,
        )
        if requeued is not None:
            await self.runner._jobs.enqueue_training(requeued)

    async def _fail(self, error: JobError) -> None:
        failed = await self._store.transition(
            self.job.id,
            JobStatus.RUNNING,
            JobStatus.FAILED,
            messages.failed(error.message),
            expected_attempt=self.job.attempt,
            error=error,
            finished_at=to_seconds(self.runner._clock.now_us()),
            estimated_finish=None,
        )
        if failed is not None:
            await self.runner._jobs.notify_finished(failed)

    async def _succeed(self, result: TrainingResult) -> None:
        job = self.job
        caller = await self.runner._caller(job)
        model = _model_name(job, caller)
        prefix = model_prefix(job.project_id, job.id)
        await upload_directory(
            self.runner._blobs,
            prefix,
            result.adapter_dir,
            extra={"model": model, "base_model": root_base_model(job.model), "job_id": job.id},
        )
        now_s = to_seconds(self.runner._clock.now_us())
        await self.runner._models.insert(
            FineTunedModelRecord(
                id=model,
                project_id=job.project_id,
                organization_id=job.organization_id,
                job_id=job.id,
                base_model=root_base_model(job.model),
                blob_prefix=prefix,
                created_at=now_s,
            )
        )
        metrics_file = await self.runner._files.create(
            caller,
            FileSpec(
                purpose=FilePurpose.FINE_TUNE_RESULTS,
                filename="step_metrics.csv",
                expires_after=None,
            ),
            _once(_metrics_csv(self.metrics_rows)),
        )
        await self._store.add_event(job.id, messages.model_created(model))
        done = await self._store.transition(
            job.id,
            JobStatus.RUNNING,
            JobStatus.SUCCEEDED,
            messages.succeeded(),
            expected_attempt=job.attempt,
            fine_tuned_model=model,
            trained_tokens=result.trained_tokens,
            result_files=[metrics_file.id],
            finished_at=now_s,
            estimated_finish=None,
        )
        if done is not None:
            await self.runner._jobs.notify_finished(done)


def _model_name(job: JobRecord, caller: Caller) -> str:
    # Named after the root base even when the job fine-tuned a fine-tuned model, as OpenAI does.
    return fine_tuned_model_name(
        root_base_model(job.model), caller.organization_slug, job.suffix, job.id
    )


def _metrics_csv(rows: list[dict[str, float]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS)
    for row in rows:
        writer.writerow(
            [int(row["step"])]
            + [
                "" if _CSV_SOURCES[column] not in row else f"{row[_CSV_SOURCES[column]]:.5f}"
                for column in METRICS_COLUMNS[1:]
            ]
        )
    return out.getvalue().encode()


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body
