"""What the gpu worker process builds: the job runner and the resources under it.

No inference gateway, webhook service or uploads: a gpu worker trains, and tells the webhooks
about the jobs it finishes through the jobs' notifier, which only writes deliveries.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from gpu_runner.gpu_worker.attempts import JobRunner, RunnerSettings
from gpu_runner.gpu_worker.inputs import TrainingInputs
from gpu_runner.gpu_worker.merged_export import MergedExportBuilder
from service.jobs.trainer_contract import Trainer
from service.models.pending_blobs import PendingBlobStore
from service.models.publisher import ModelPublisher
from service.settings import Settings
from service.wiring.resources import Resources, open_worker_resources
from service.wiring.shared import JobCore


@dataclass(frozen=True)
class GpuWorkerContext:
    """The gpu worker's tasks' view of the process: ``train`` and ``export_merged``."""

    resources: Resources
    runner: JobRunner
    exports: MergedExportBuilder

    @classmethod
    async def open(cls, settings: Settings) -> GpuWorkerContext:
        """The worker's start-up: the trainer first (a bad import path fails before anything
        connects), then the resources and the runner."""
        trainer = load_trainer(settings.trainer.import_path)
        resources = await open_worker_resources(settings)
        core = JobCore.build(resources)
        exports = MergedExportBuilder(
            core.model_access, core.registry, core.model_files, resources.blobs, resources.clock
        )
        return cls(resources, _job_runner(resources, core, trainer), exports)

    async def close(self) -> None:
        """Release connections and pools."""
        await self.resources.close()


def load_trainer(import_path: str | None) -> Trainer:
    """Instantiate the configured ``Trainer`` class (``module:attribute``)."""
    if not import_path:
        raise RuntimeError(
            "No trainer is configured: set FTAPI_TRAINER__IMPORT_PATH to 'module:Class'."
        )
    module_name, _, attribute = import_path.partition(":")
    trainer_class = getattr(importlib.import_module(module_name), attribute)
    trainer: Trainer = trainer_class()
    return trainer


def _job_runner(resources: Resources, core: JobCore, trainer: Trainer) -> JobRunner:
    settings, blobs = resources.settings, resources.blobs
    pending = PendingBlobStore(resources.sessions, resources.clock)
    return JobRunner(
        core.jobs_store,
        core.jobs,
        core.projects,
        blobs,
        pending,
        TrainingInputs(blobs, core.registry, core.model_files, core.model_access),
        ModelPublisher(resources.sessions, blobs, pending, resources.clock),
        trainer,
        resources.clock,
        RunnerSettings(
            heartbeat_interval_s=settings.jobs.heartbeat_interval_s,
            max_running_per_project=settings.jobs.max_running_jobs_per_project,
            checkpoints_kept=settings.jobs.checkpoints_kept,
        ),
    )
