"""What the ctl worker process builds: exactly what its tasks use, opened at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from service.ctl_worker.sweep import Sweep
from service.datasets.validation.limits import training_data_limits
from service.datasets.validation.stored_files import FileContentValidator
from service.evals.execution.worker import EvalWorker
from service.files.service import FileService
from service.jobs.reconciler import Reconciler
from service.jobs.serving_events import JobServingEvents
from service.jobs.validation_step import JobValidation
from service.models.pending_blobs import PendingBlobStore, PendingBlobSweeper
from service.models.reaper import ExpiredModelStore, ModelBlobReaper
from service.serving.gateway.factory import build_inference_gateway
from service.serving.gateway.inference import InferenceGateway
from service.settings import Settings
from service.webhooks.service import WebhookService
from service.wiring.resources import Resources, open_worker_resources
from service.wiring.shared import JobCore, job_preflight, upload_service, webhook_service


@dataclass(frozen=True)
class CtlWorkerContext:
    """The ctl worker's tasks' view of the process: one per worker, shared by every task."""

    resources: Resources
    file_validator: FileContentValidator
    job_validation: JobValidation
    reconciler: Reconciler
    model_blob_reaper: ModelBlobReaper
    sweep: Sweep
    files: FileService
    webhooks: WebhookService
    serving: InferenceGateway  # eval runs sample and grade through it
    evals: EvalWorker

    @classmethod
    async def open(cls, settings: Settings) -> CtlWorkerContext:
        """The worker's start-up: its resources, then the parts its tasks run."""
        resources = await open_worker_resources(settings)
        sessions, blobs, clock = resources.sessions, resources.blobs, resources.clock
        core = JobCore.build(resources)
        serving = build_inference_gateway(
            settings.serving,
            core.registry,
            core.model_access,
            sessions,
            unservable=JobServingEvents(core.jobs_store),
        )
        return cls(
            resources=resources,
            file_validator=FileContentValidator(
                core.file_store, blobs, training_data_limits(settings)
            ),
            job_validation=JobValidation(
                core.jobs_store, core.jobs, core.projects, job_preflight(resources, core), clock
            ),
            reconciler=Reconciler(
                core.jobs_store,
                core.jobs,
                core.file_store,
                resources.queue,
                clock,
                stale_heartbeat_s=settings.jobs.stale_heartbeat_s,
                max_attempts=settings.jobs.max_attempts,
            ),
            model_blob_reaper=ModelBlobReaper(
                ExpiredModelStore(sessions),
                blobs,
                clock,
                grace_s=settings.models.deleted_blob_grace_s,
            ),
            sweep=Sweep(
                upload_service(resources, core.files),
                core.files,
                blobs,
                PendingBlobSweeper(
                    PendingBlobStore(sessions, clock),
                    blobs,
                    clock,
                    grace_s=settings.storage.abandoned_write_s,
                ),
                abandoned_write_s=settings.storage.abandoned_write_s,
            ),
            files=core.files,
            webhooks=webhook_service(resources),
            serving=serving,
            evals=EvalWorker.build(
                settings.evals,
                sessions=sessions,
                projects=core.projects,
                files=core.files,
                queue=resources.queue,
                clock=clock,
                gateway=serving,
            ),
        )

    async def close(self) -> None:
        """Release the webhook sender's, the evals' and the gateway's connections, then the
        resources."""
        await self.webhooks.close()
        await self.evals.close()
        await self.serving.close()
        await self.resources.close()
