"""How the api's handlers get what they are injected with, and how middleware finds it.

Everything comes from the ``ApiServices`` the lifespan stores on the app; ``api_services_of``
is the one way to read them, for the providers here and for middleware, which gets no injection.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request
from litestar.di import Provide

from service.api.metrics import MetricSources
from service.api.services import ApiServices
from service.auth.caller import Caller
from service.datasets.service import DatasetService
from service.evals.grader_service import GraderService
from service.evals.run_service import RunService
from service.evals.service import EvalService
from service.files.service import FileService
from service.http.dependencies import CallerDep
from service.jobs.preflight import JobPreflight
from service.jobs.service import JobService
from service.models.download import ModelDownloads
from service.models.imports import ModelImports
from service.models.service import ModelService
from service.models.sharing import ModelSharing
from service.serving.gateway.inference import InferenceGateway
from service.uploads.service import UploadService
from service.webhooks.service import WebhookService

_STATE_KEY = "api_services"


def attach_api_services(app: Litestar, services: ApiServices) -> None:
    """Store the api's services on the app (done once, in the lifespan)."""
    app.state[_STATE_KEY] = services


def api_services_of(app: Litestar) -> ApiServices:
    """The services the lifespan stored on the app."""
    services: ApiServices = app.state[_STATE_KEY]
    return services


def _caller(request: Request[Caller, str, Any]) -> Caller:
    return request.user


# Every service provider takes ``caller`` although it does not use it. Litestar resolves the
# dependencies of one depth concurrently, in a task group with a task each; for lookups that
# take a microsecond, that costs more than the rest of the dependency injection. Depending on
# ``caller`` puts each service one level deeper, so a request resolves its two dependencies
# in turn, with no task group (about 6% of the api's CPU per read under bench/load.py).


def _files(request: Request[Any, Any, Any], caller: CallerDep) -> FileService:
    return api_services_of(request.app).files


def _uploads(request: Request[Any, Any, Any], caller: CallerDep) -> UploadService:
    return api_services_of(request.app).uploads


def _datasets(request: Request[Any, Any, Any], caller: CallerDep) -> DatasetService:
    return api_services_of(request.app).datasets


def _preflight(request: Request[Any, Any, Any], caller: CallerDep) -> JobPreflight:
    return api_services_of(request.app).preflight


def _jobs(request: Request[Any, Any, Any], caller: CallerDep) -> JobService:
    return api_services_of(request.app).jobs


def _models(request: Request[Any, Any, Any], caller: CallerDep) -> ModelService:
    return api_services_of(request.app).models


def _downloads(request: Request[Any, Any, Any], caller: CallerDep) -> ModelDownloads:
    return api_services_of(request.app).downloads


def _imports(request: Request[Any, Any, Any], caller: CallerDep) -> ModelImports:
    return api_services_of(request.app).imports


def _sharing(request: Request[Any, Any, Any], caller: CallerDep) -> ModelSharing:
    return api_services_of(request.app).sharing


def _webhooks(request: Request[Any, Any, Any], caller: CallerDep) -> WebhookService:
    return api_services_of(request.app).webhooks


def _serving(request: Request[Any, Any, Any], caller: CallerDep) -> InferenceGateway:
    return api_services_of(request.app).serving


def _evals(request: Request[Any, Any, Any], caller: CallerDep) -> EvalService:
    return api_services_of(request.app).evals.evals


def _eval_runs(request: Request[Any, Any, Any], caller: CallerDep) -> RunService:
    return api_services_of(request.app).evals.runs


def _graders(request: Request[Any, Any, Any], caller: CallerDep) -> GraderService:
    return api_services_of(request.app).evals.graders


def _metric_sources(request: Request[Any, Any, Any]) -> MetricSources:
    return api_services_of(request.app).metric_sources


V1_DEPENDENCIES = {
    "caller": Provide(_caller, sync_to_thread=False),
    "files": Provide(_files, sync_to_thread=False),
    "uploads": Provide(_uploads, sync_to_thread=False),
    "datasets": Provide(_datasets, sync_to_thread=False),
    "preflight": Provide(_preflight, sync_to_thread=False),
    "jobs": Provide(_jobs, sync_to_thread=False),
    "models": Provide(_models, sync_to_thread=False),
    "downloads": Provide(_downloads, sync_to_thread=False),
    "imports": Provide(_imports, sync_to_thread=False),
    "sharing": Provide(_sharing, sync_to_thread=False),
    "webhooks": Provide(_webhooks, sync_to_thread=False),
    "serving": Provide(_serving, sync_to_thread=False),
    "evals": Provide(_evals, sync_to_thread=False),
    "eval_runs": Provide(_eval_runs, sync_to_thread=False),
    "graders": Provide(_graders, sync_to_thread=False),
}

# Outside /v1: ``/metrics`` reads its figures from these (it needs no caller).
PROBE_DEPENDENCIES = {"metric_sources": Provide(_metric_sources, sync_to_thread=False)}
