"""The long-lived parts one process shares: engine, blob store, Redis and the domain services.

Built once from ``Settings`` at start-up (the api's lifespan, a worker's start-up) and closed at
shutdown; request handlers and jobs receive what they need from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine

from service.auth.authenticator import KeyAuthenticator
from service.auth.store import ProjectStore
from service.blobstore import BlobStore, S3Config, create_blob_store
from service.clock import Clock, SystemClock
from service.datasets.file_validation import FileContentValidator, QueuedFileValidation
from service.datasets.limits import training_data_limits
from service.datasets.report_store import DatasetReportStore
from service.datasets.service import DatasetService
from service.db.engine import SessionFactory, create_engine, create_session_factory
from service.files.service import FileService
from service.files.store import FileStore
from service.jobs.preflight import JobPreflight
from service.jobs.service import JobQuotas, JobService
from service.jobs.store import JobStore
from service.models.access import ModelAccess
from service.models.fine_tuned import FineTunedModelStore
from service.models.permissions import PermissionStore
from service.models.registry import ModelRegistry
from service.models.service import ModelService
from service.models.sharing import ModelSharing
from service.models.sources import ModelFiles
from service.models.tokenizers import TokenizerCache
from service.queue.arq_queue import ArqTaskQueue, arq_redis
from service.queue.protocol import TaskQueue
from service.serving.gateway.factory import build_inference_gateway
from service.serving.gateway.inference import InferenceGateway
from service.settings import Settings, StorageBackend
from service.uploads.service import UploadService
from service.uploads.store import UploadStore
from service.webhooks.factory import build_webhook_service
from service.webhooks.service import WebhookService


@dataclass
class Runtime:
    """Shared resources and services of one ftapi process."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    blobs: BlobStore
    redis: ArqRedis
    clock: Clock
    projects: ProjectStore
    authenticator: KeyAuthenticator
    files: FileService
    uploads: UploadService
    file_store: FileStore
    file_validator: FileContentValidator
    registry: ModelRegistry
    model_files: ModelFiles
    datasets: DatasetService
    preflight: JobPreflight
    queue: TaskQueue
    jobs_store: JobStore
    jobs: JobService
    fine_tuned_models: FineTunedModelStore
    model_access: ModelAccess
    models: ModelService
    sharing: ModelSharing
    webhooks: WebhookService
    serving: InferenceGateway

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        """Wire every part from settings; nothing connects until first use."""
        clock = clock or SystemClock()
        engine = create_engine(
            settings.database_url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
        )
        sessions = create_session_factory(engine)
        blobs = blob_store_from_settings(settings)
        redis = arq_redis(settings.redis.url, connect_timeout_s=settings.redis.connect_timeout_s)
        limits = settings.limits
        queue = ArqTaskQueue(redis)
        file_store = FileStore(sessions)
        file_validator = FileContentValidator(file_store, blobs, training_data_limits(settings))
        files = FileService(
            file_store,
            blobs,
            clock,
            max_file_bytes=limits.max_file_bytes,
            validation=QueuedFileValidation(queue),
        )
        uploads = UploadService(
            UploadStore(sessions),
            files,
            blobs,
            clock,
            max_upload_bytes=limits.max_upload_bytes,
            max_part_bytes=limits.max_upload_part_bytes,
            upload_ttl_s=limits.upload_ttl_s,
        )
        registry = ModelRegistry.from_file(settings.models.registry_path)
        model_files = ModelFiles(
            blobs,
            settings.models.cache_dir or settings.data_dir / "models-cache",
            hub_offline=settings.models.hub_offline,
            hub_cache_dir=settings.models.hub_cache_dir,
        )
        fine_tuned_models = FineTunedModelStore(sessions)
        model_access = ModelAccess(registry, sessions)
        projects = ProjectStore(sessions, clock)
        datasets = DatasetService(
            files,
            blobs,
            registry,
            TokenizerCache(model_files),
            DatasetReportStore(sessions),
            clock,
            training_data_limits(settings),
        )
        preflight = JobPreflight(
            model_access,
            datasets,
            min_training_examples=limits.min_training_examples,
            tokens_per_second=settings.training.estimated_tokens_per_second,
        )
        webhooks = build_webhook_service(settings.webhooks, sessions, queue, clock)
        jobs_store = JobStore(sessions, clock)
        jobs = JobService(
            jobs_store,
            queue,
            model_access,
            datasets,
            clock,
            JobQuotas(
                max_active=settings.jobs.max_active_jobs_per_project,
                max_running=settings.jobs.max_running_jobs_per_project,
            ),
            notifier=webhooks,
        )
        serving = build_inference_gateway(settings.serving, registry, model_access, sessions)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            blobs=blobs,
            redis=redis,
            clock=clock,
            projects=projects,
            authenticator=KeyAuthenticator(
                projects,
                ttl_s=settings.auth.cache_ttl_s,
                last_used_resolution_s=settings.auth.last_used_resolution_s,
            ),
            files=files,
            uploads=uploads,
            file_store=file_store,
            file_validator=file_validator,
            registry=registry,
            model_files=model_files,
            datasets=datasets,
            preflight=preflight,
            queue=queue,
            jobs_store=jobs_store,
            jobs=jobs,
            fine_tuned_models=fine_tuned_models,
            model_access=model_access,
            models=ModelService(
                registry, fine_tuned_models, model_access, clock, unpublisher=serving
            ),
            sharing=ModelSharing(model_access, PermissionStore(sessions), projects, clock),
            webhooks=webhooks,
            serving=serving,
        )

    async def ensure_default_organization(self) -> str:
        """The configured organization's id, created on first start."""
        return await self.projects.ensure_organization(self.settings.organization_slug)

    async def close(self) -> None:
        """Stop background work, then release connections and pools."""
        await self.webhooks.close()
        await self.serving.close()
        await self.redis.aclose(close_connection_pool=True)
        await self.blobs.close()
        await self.engine.dispose()


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """The blob store the storage settings describe."""
    storage = settings.storage
    if storage.backend is StorageBackend.LOCAL:
        return create_blob_store(backend="local", local_root=settings.blob_root)
    secret = storage.s3_secret_access_key
    return create_blob_store(
        backend="s3",
        s3=S3Config(
            bucket=storage.s3_bucket,
            endpoint_url=storage.s3_endpoint_url,
            region=storage.s3_region,
            path_style=storage.s3_path_style,
            access_key_id=storage.s3_access_key_id,
            secret_access_key=None if secret is None else secret.get_secret_value(),
            key_prefix=storage.s3_prefix,
            part_size_bytes=storage.s3_part_size_bytes,
        ),
    )
