"""What handlers receive by injection, as typed ``Annotated`` aliases, and how each is provided."""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request
from litestar.di import NamedDependency, Provide

from service.auth.caller import Caller
from service.datasets.service import DatasetService
from service.files.service import FileService
from service.http.runtime import runtime_of
from service.jobs.preflight import JobPreflight
from service.jobs.service import JobService
from service.models.service import ModelService
from service.models.sharing import ModelSharing
from service.serving.gateway.inference import InferenceGateway
from service.uploads.service import UploadService
from service.webhooks.service import WebhookService

CallerDep: TypeAlias = NamedDependency[Caller]
FilesDep: TypeAlias = NamedDependency[FileService]
UploadsDep: TypeAlias = NamedDependency[UploadService]
DatasetsDep: TypeAlias = NamedDependency[DatasetService]
PreflightDep: TypeAlias = NamedDependency[JobPreflight]
JobsDep: TypeAlias = NamedDependency[JobService]
ModelsDep: TypeAlias = NamedDependency[ModelService]
SharingDep: TypeAlias = NamedDependency[ModelSharing]
WebhooksDep: TypeAlias = NamedDependency[WebhookService]
ServingDep: TypeAlias = NamedDependency[InferenceGateway]


def _caller(request: Request[Caller, str, Any]) -> Caller:
    return request.user


# Every service provider takes ``caller`` although it does not use it. Litestar resolves the
# dependencies of one depth concurrently, in a task group with a task each; for lookups that
# take a microsecond, that costs more than the rest of the dependency injection. Depending on
# ``caller`` puts each service one level deeper, so a request resolves its two dependencies
# in turn, with no task group (about 6% of the api's CPU per read under bench/load.py).


def _files(request: Request[Any, Any, Any], caller: CallerDep) -> FileService:
    return runtime_of(request.app).files


def _uploads(request: Request[Any, Any, Any], caller: CallerDep) -> UploadService:
    return runtime_of(request.app).uploads


def _datasets(request: Request[Any, Any, Any], caller: CallerDep) -> DatasetService:
    return runtime_of(request.app).datasets


def _preflight(request: Request[Any, Any, Any], caller: CallerDep) -> JobPreflight:
    return runtime_of(request.app).preflight


def _jobs(request: Request[Any, Any, Any], caller: CallerDep) -> JobService:
    return runtime_of(request.app).jobs


def _models(request: Request[Any, Any, Any], caller: CallerDep) -> ModelService:
    return runtime_of(request.app).models


def _sharing(request: Request[Any, Any, Any], caller: CallerDep) -> ModelSharing:
    return runtime_of(request.app).sharing


def _webhooks(request: Request[Any, Any, Any], caller: CallerDep) -> WebhookService:
    return runtime_of(request.app).webhooks


def _serving(request: Request[Any, Any, Any], caller: CallerDep) -> InferenceGateway:
    return runtime_of(request.app).serving


V1_DEPENDENCIES = {
    "caller": Provide(_caller, sync_to_thread=False),
    "files": Provide(_files, sync_to_thread=False),
    "uploads": Provide(_uploads, sync_to_thread=False),
    "datasets": Provide(_datasets, sync_to_thread=False),
    "preflight": Provide(_preflight, sync_to_thread=False),
    "jobs": Provide(_jobs, sync_to_thread=False),
    "models": Provide(_models, sync_to_thread=False),
    "sharing": Provide(_sharing, sync_to_thread=False),
    "webhooks": Provide(_webhooks, sync_to_thread=False),
    "serving": Provide(_serving, sync_to_thread=False),
}
