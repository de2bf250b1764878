"""What the api process builds: the services its handlers, middleware and probes use.

Opened once by the app's lifespan (``service/api/app.py``) and closed at shutdown. Training,
validation and delivery attempts belong to the workers, so none of their parts are built here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from service.api.metrics import MetricSources
from service.auth.authenticator import KeyAuthenticator
from service.datasets.service import DatasetService
from service.db.migrate import upgrade_database_async
from service.evals.factory import EvalApi, build_eval_api
from service.files.service import FileService
from service.jobs.preflight import JobPreflight
from service.jobs.service import JobService
from service.jobs.serving_events import JobServingEvents
from service.models.download import ModelDownloads
from service.models.fine_tuned import FineTunedModelStore
from service.models.imports import ModelImports
from service.models.merged_exports import MergedExports
from service.models.permissions import PermissionStore
from service.models.service import ModelService
from service.models.sharing import ModelSharing
from service.serving.gateway.factory import build_inference_gateway
from service.serving.gateway.inference import InferenceGateway
from service.settings import Settings
from service.uploads.service import UploadService
from service.webhooks.service import WebhookService
from service.wiring.resources import Resources
from service.wiring.shared import JobCore, job_preflight, upload_service, webhook_service


@dataclass(frozen=True)
class ApiServices:
    """The api's dependency map: one of each service, shared by every request."""

    resources: Resources
    authenticator: KeyAuthenticator
    files: FileService
    uploads: UploadService
    datasets: DatasetService
    preflight: JobPreflight
    jobs: JobService
    models: ModelService
    downloads: ModelDownloads
    imports: ModelImports
    sharing: ModelSharing
    webhooks: WebhookService
    serving: InferenceGateway
    evals: EvalApi
    metric_sources: MetricSources

    @classmethod
    def build(cls, resources: Resources, core: JobCore) -> ApiServices:
        """Wire the api's services; nothing connects until first use."""
        settings, sessions, clock = resources.settings, resources.sessions, resources.clock
        webhooks = webhook_service(resources)
        serving = build_inference_gateway(
            settings.serving,
            core.registry,
            core.model_access,
            sessions,
            unservable=JobServingEvents(core.jobs_store),
        )
        return cls(
            resources=resources,
            authenticator=KeyAuthenticator(
                core.projects,
                ttl_s=settings.auth.cache_ttl_s,
                last_used_resolution_s=settings.auth.last_used_resolution_s,
            ),
            files=core.files,
            uploads=upload_service(resources, core.files),
            datasets=core.datasets,
            preflight=job_preflight(resources, core),
            jobs=core.jobs,
            models=ModelService(
                core.registry,
                FineTunedModelStore(sessions),
                core.model_access,
                clock,
                unpublisher=serving,
            ),
            downloads=ModelDownloads(
                core.registry,
                core.model_access,
                core.model_files,
                resources.blobs,
                sessions,
                MergedExports(resources.blobs, resources.queue, clock),
            ),
            imports=ModelImports(core.registry, core.model_files, resources.blobs, sessions, clock),
            sharing=ModelSharing(
                core.model_access, PermissionStore(sessions), core.projects, clock
            ),
            webhooks=webhooks,
            serving=serving,
            evals=build_eval_api(
                settings.evals,
                sessions,
                resources.queue,
                clock,
                core.files,
                core.registry,
                core.model_access,
                serving,
            ),
            metric_sources=MetricSources(core.jobs_store, resources.redis, webhooks),
        )

    async def close(self) -> None:
        """Stop background work, then release connections and pools."""
        await self.webhooks.close()
        await self.evals.close()
        await self.serving.close()
        await self.resources.close()


@asynccontextmanager
async def open_api_services(settings: Settings) -> AsyncIterator[ApiServices]:
    """The api's start-up (migrations, the default organization) and its services until exit."""
    if settings.database.migrate_on_start:
        await upgrade_database_async(settings.database_url)
    resources = Resources.open(settings)
    core = JobCore.build(resources)
    services = ApiServices.build(resources, core)
    try:
        await core.projects.ensure_organization(settings.organization_slug)
        yield services
    finally:
        await services.close()
