"""Services more than one process builds, built one way for all of them.

``JobCore`` is what every process needs to read and move jobs (the api, the ctl worker and the
gpu worker); the builders below serve two processes each. Each process adds what only it uses:
``service/api/services.py``, ``service/ctl_worker/context.py`` and
``gpu_runner/gpu_worker/context.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.auth.store import ProjectStore
from service.datasets.reports.store import DatasetReportStore
from service.datasets.service import DatasetService
from service.datasets.tokenization.tokenizer_cache import TokenizerCache
from service.datasets.validation.limits import training_data_limits
from service.datasets.validation.stored_files import QueuedFileValidation
from service.files.service import FileService
from service.files.store import FileStore
from service.jobs.preflight import JobPreflight
from service.jobs.service import JobQuotas, JobService
from service.jobs.store import JobStore
from service.models.access import ModelAccess
from service.models.registry import ModelRegistry
from service.models.sources import ModelFiles
from service.uploads.service import UploadService
from service.uploads.store import UploadStore
from service.webhooks.factory import build_job_webhook_notifier, build_webhook_service
from service.webhooks.service import WebhookService
from service.wiring.resources import Resources


@dataclass(frozen=True)
class JobCore:
    """Projects, files, base models, datasets and jobs: what every process works with."""

    projects: ProjectStore
    file_store: FileStore
    files: FileService
    registry: ModelRegistry
    model_files: ModelFiles
    model_access: ModelAccess
    datasets: DatasetService
    jobs_store: JobStore
    jobs: JobService

    @classmethod
    def build(cls, resources: Resources) -> JobCore:
        """Wire the core on a process's resources; nothing connects until first use."""
        settings, sessions, blobs, clock = (
            resources.settings,
            resources.sessions,
            resources.blobs,
            resources.clock,
        )
        file_store = FileStore(sessions)
        files = FileService(
            file_store,
            blobs,
            clock,
            max_file_bytes=settings.limits.max_file_bytes,
            validation=QueuedFileValidation(resources.queue),
        )
        registry = ModelRegistry.from_file(settings.models.registry_path)
        model_files = ModelFiles(
            blobs,
            settings.models.cache_dir or settings.data_dir / "models-cache",
            hub_offline=settings.models.hub_offline,
            hub_cache_dir=settings.models.hub_cache_dir,
        )
        model_access = ModelAccess(registry, sessions)
        datasets = DatasetService(
            files,
            blobs,
            registry,
            TokenizerCache(model_files),
            DatasetReportStore(sessions),
            clock,
            training_data_limits(settings),
        )
        jobs_store = JobStore(sessions, clock)
        jobs = JobService(
            jobs_store,
            resources.queue,
            model_access,
            datasets,
            clock,
            JobQuotas(
                max_active=settings.jobs.max_active_jobs_per_project,
                max_running=settings.jobs.max_running_jobs_per_project,
            ),
            notifier=build_job_webhook_notifier(sessions, resources.queue, clock),
        )
        return cls(
            projects=ProjectStore(sessions, clock),
            file_store=file_store,
            files=files,
            registry=registry,
            model_files=model_files,
            model_access=model_access,
            datasets=datasets,
            jobs_store=jobs_store,
            jobs=jobs,
        )


def upload_service(resources: Resources, files: FileService) -> UploadService:
    """Multipart uploads (the api's routes, the ctl worker's sweep)."""
    limits = resources.settings.limits
    return UploadService(
        UploadStore(resources.sessions),
        files,
        resources.blobs,
        resources.clock,
        max_upload_bytes=limits.max_upload_bytes,
        max_part_bytes=limits.max_upload_part_bytes,
        upload_ttl_s=limits.upload_ttl_s,
    )


def job_preflight(resources: Resources, core: JobCore) -> JobPreflight:
    """The checks a job passes before it is queued (the api's dry runs, the ctl worker's step)."""
    settings = resources.settings
    return JobPreflight(
        core.model_access,
        core.datasets,
        min_training_examples=settings.limits.min_training_examples,
        tokens_per_second=settings.training.estimated_tokens_per_second,
    )


def webhook_service(resources: Resources) -> WebhookService:
    """Endpoints and delivery attempts (the api's routes, the ctl worker's deliveries)."""
    return build_webhook_service(
        resources.settings.webhooks, resources.sessions, resources.queue, resources.clock
    )
