"""The gpu-queue handler: claim a job, run one training attempt of it, and record its outcome.

Claims the job (``queued → running``, a new attempt number), has its inputs assembled
(``inputs``), keeps a heartbeat, relays the trainer's progress into events and its checkpoints
to ``checkpoints``, then has the adapter published (``service.models.publisher``) in the same
transaction as the attempt's ``running → succeeded`` compare-and-set. Cancel and pause reach the
trainer through the heartbeat: the job row is the source of truth, so whoever loses a
compare-and-set simply stops, and an attempt that lost its claim writes nothing anyone reads:
its blobs are its own (``attempts/{n}/``) and its rows are refused.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gpu_runner.gpu_worker.checkpoints import AttemptCheckpoints
from gpu_runner.gpu_worker.inputs import TrainingInputs
from gpu_runner.gpu_worker.step_metrics import step_metrics_csv
from service.auth.caller import Caller
from service.auth.store import ProjectStore
from service.blobstore import BlobStore, BlobStoreFull
from service.clock import Clock, to_seconds
from service.jobs import messages
from service.jobs.evaluation import FORGETTING_WARN_DROP, JobEvaluation, best_step, forgetting
from service.jobs.internal_failure import fail_with_internal_error
from service.jobs.records import CheckpointRecord, JobError, JobRecord, NewEvent
from service.jobs.service import JobService
from service.jobs.state_machine import JobStatus
from service.jobs.store import JobStore
from service.jobs.trainer_contract import (
    STORAGE_FULL_CODE,
    EvaluationPhase,
    EvaluationReport,
    StepMetrics,
    StopReason,
    Trainer,
    TrainingFailed,
    TrainingResult,
    TrainingStopped,
)
from service.models.naming import checkpoint_model_name, fine_tuned_model_name, root_base_model
from service.models.pending_blobs import PendingBlobStore
from service.models.publisher import ModelPublisher, TrainedAdapter

logger = logging.getLogger(__name__)


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
        blobs: BlobStore,
        pending: PendingBlobStore,
        inputs: TrainingInputs,
        publisher: ModelPublisher,
        trainer: Trainer,
        clock: Clock,
        settings: RunnerSettings,
    ) -> None:
        self._store = store
        self._jobs = jobs
        self._projects = projects
        self._blobs = blobs
        self._pending = pending
        self._inputs = inputs
        self._publisher = publisher
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
        checkpoints = AttemptCheckpoints(
            claimed,
            self._store,
            self._blobs,
            self._pending,
            self._clock,
            keep=self._settings.checkpoints_kept,
        )
        attempt_run = _Attempt(self, claimed, workdir, checkpoints, started_us=self._clock.now_us())
        try:
            await attempt_run.run(latest)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def give_up(self, job_id: str) -> None:
        """Fail a job whose training task was given up (``internal_error``)."""
        await fail_with_internal_error(
            self._store, self._jobs, self._clock, job_id, step="The training task"
        )

    # -- used by _Attempt -------------------------------------------------------------------

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
    checkpoints: AttemptCheckpoints
    metrics_rows: list[dict[str, float]] = field(default_factory=list)
    started_us: int = 0
    _stop: StopReason | None = None
    # ftapi's in-job evaluation: the job's summary as this attempt keeps it up to date.
    eval_summary: dict[str, Any] = field(default_factory=dict)

    @property
    def _store(self) -> JobStore:
        return self.runner._store

    async def run(self, latest: CheckpointRecord | None) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(), name=f"heartbeat-{self.job.id}")
        try:
            spec = await self.runner._inputs.spec(self.job, self.workdir, latest)
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
        held = await self._store.update_running(
            self.job.id,
            self.job.attempt,
            estimated_finish=to_seconds(self.runner._clock.now_us()) + int(eta_s),
        )
        if held:  # a runner that lost its claim adds nothing to the job's log
            await self._store.add_event(
                self.job.id,
                messages.step_metrics(metrics.step, metrics.total_steps, metrics.values),
            )

    async def report_evaluation(self, report: EvaluationReport) -> None:
        summary = dict(self.job.eval_summary or {}) | self.eval_summary
        if report.phase is EvaluationPhase.BASE:
            summary |= {"base": report.values}
            event = messages.base_evaluated(report.values)
        elif report.phase is EvaluationPhase.TUNED:
            base = summary.get("base") or {}
            summary |= {"tuned": report.values, "tuned_step": report.step}
            event = messages.eval_comparison(base, report.values, report.step)
        elif report.phase is EvaluationPhase.REFERENCE_BASE:
            summary |= {"reference_base": report.values}
            event = messages.reference_evaluated(report.values)
        else:
            base = summary.get("reference_base") or {}
            drops = forgetting(base, report.values)
            summary |= {"reference_tuned": report.values, "forgetting": drops}
            event = messages.forgetting(base, report.values, drops, FORGETTING_WARN_DROP)
        # report.seconds counts this attempt's evaluations; earlier attempts' are on the job.
        earlier = float((self.job.eval_summary or {}).get("eval_seconds", 0.0))
        summary["eval_seconds"] = round(earlier + report.seconds, 3)
        self.eval_summary = summary
        held = await self._store.update_running(self.job.id, self.job.attempt, eval_summary=summary)
        if held:
            await self._store.add_event(self.job.id, event)

    async def save_checkpoint(self, step: int, directory: Path, metrics: dict[str, float]) -> None:
        name = checkpoint_model_name(
            _model_name(self.job, await self.runner._caller(self.job)), step
        )
        try:
            await self.checkpoints.save(step, directory, metrics, name, best_metric=self._metric)
        except BlobStoreFull as exc:
            # Failing now, not training on without checkpoints: the adapter would not fit either.
            logger.error("blob store full: %s", exc, extra={"job_id": self.job.id})
            error = _storage_full(f"The checkpoint at step {step}")
            raise TrainingFailed(error.code, error.message) from exc

    def stop_requested(self) -> StopReason | None:
        return self._stop

    @property
    def _metric(self) -> str:
        """The metric that picks the job's best checkpoint."""
        return (self.job.evaluation or JobEvaluation()).selection_metric

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
        model = _model_name(job, await self.runner._caller(job))
        summary, events = await self._final_evaluation(result, model)
        succeeded = _SucceededTransition(
            self._store,
            job,
            trained_tokens=result.trained_tokens,
            finished_at=to_seconds(self.runner._clock.now_us()),
            eval_summary=summary,
            eval_events=events,
        )
        try:
            published = await self.runner._publisher.publish(
                TrainedAdapter(
                    model=model,
                    project_id=job.project_id,
                    organization_id=job.organization_id,
                    job_id=job.id,
                    attempt=job.attempt,
                    base_model=root_base_model(job.model),
                    adapter_dir=result.adapter_dir,
                    step_metrics_csv=step_metrics_csv(self.metrics_rows),
                    parity_probes=result.parity_probes,
                ),
                succeeded,
            )
        except BlobStoreFull as exc:
            logger.error("blob store full: %s", exc, extra={"job_id": job.id})
            await self._fail(_storage_full("The trained model"))
            return
        if published and succeeded.finished is not None:
            await self.runner._jobs.notify_finished(succeeded.finished)

    async def _final_evaluation(
        self, result: TrainingResult, model: str
    ) -> tuple[dict[str, Any] | None, list[NewEvent]]:
        """The job's eval summary with its best checkpoint and early stop, and their events."""
        summary = dict(self.job.eval_summary or {}) | self.eval_summary
        if self.job.validation_file is None:
            return summary or None, []  # the forgetting eval's, if its base has a reference set
        events: list[NewEvent] = []
        evaluation = self.job.evaluation or JobEvaluation()
        if result.stopped_early_at is not None and evaluation.early_stopping is not None:
            summary["stopped_early_at"] = result.stopped_early_at
            events.append(
                messages.stopped_early(
                    result.stopped_early_at,
                    result.total_steps,
                    evaluation.early_stopping.metric,
                    evaluation.early_stopping.patience,
                )
            )
        checkpoints = dict(await self._store.checkpoint_metrics(self.job.id))
        metric = evaluation.selection_metric
        best = best_step(checkpoints.items(), metric)
        if best is not None:
            name = checkpoint_model_name(model, best)
            value = checkpoints[best][metric]
            summary["best_checkpoint"] = {
                "step": best,
                "metric": metric,
                "value": value,
                "fine_tuned_model_checkpoint": name,
            }
            events.append(messages.best_checkpoint(name, best, metric, value))
        return summary or None, events


@dataclass
class _SucceededTransition:
    """The publication's fence: the attempt's ``running → succeeded`` compare-and-set, with the
    model-created and succeeded events, in the publication's transaction."""

    store: JobStore
    job: JobRecord
    trained_tokens: int
    finished_at: int
    eval_summary: dict[str, Any] | None = None
    eval_events: list[NewEvent] = field(default_factory=list)
    finished: JobRecord | None = None

    async def __call__(self, session: AsyncSession, model: str, results_file_id: str) -> bool:
        self.finished = await self.store.transition_in(
            session,
            self.job.id,
            JobStatus.RUNNING,
            JobStatus.SUCCEEDED,
            [*self.eval_events, messages.model_created(model), messages.succeeded()],
            expected_attempt=self.job.attempt,
            **({} if self.eval_summary is None else {"eval_summary": self.eval_summary}),
            fine_tuned_model=model,
            trained_tokens=self.trained_tokens,
            result_files=[results_file_id],
            finished_at=self.finished_at,
            estimated_finish=None,
        )
        return self.finished is not None


def _storage_full(what: str) -> JobError:
    return JobError(
        code=STORAGE_FULL_CODE,
        message=f"{what} could not be stored: the server's storage is full. Create the job "
        "again later, or ask the service's operators to free space.",
    )


def _model_name(job: JobRecord, caller: Caller) -> str:
    # Named after the root base even when the job fine-tuned a fine-tuned model, as OpenAI does.
    return fine_tuned_model_name(
        root_base_model(job.model), caller.organization_slug, job.suffix, job.id
    )
