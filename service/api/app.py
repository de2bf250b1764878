"""The Litestar application factory."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from litestar import Litestar, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from service.api.authentication import ApiKeyAuthentication
from service.api.health import healthz, readyz
from service.api.metrics import metrics
from service.api.providers import PROBE_DEPENDENCIES, V1_DEPENDENCIES, attach_api_services
from service.api.services import open_api_services
from service.console.http import console_router
from service.datasets.http import DatasetController
from service.evals.graders_http import GradersController
from service.evals.http import EvalRunsController, EvalsController
from service.files.http import FilesController
from service.http.errors import EXCEPTION_HANDLERS
from service.http.json_body import JsonSafeRequest
from service.http.rate_limit import RateLimitMiddleware, rate_limiting
from service.http.request_context import (
    AccessLogMiddleware,
    add_request_id_header,
    request_id_of,
)
from service.jobs.http import FineTuningController
from service.logs import configure_logging
from service.models.http import ModelsController
from service.models.imports_http import ModelImportsController
from service.models.permissions_http import CheckpointPermissionsController
from service.observability.tracing import http_tracing_plugins
from service.serving.gateway.http import InferenceController
from service.settings import Settings
from service.uploads.http import UploadsController
from service.webhooks.http import WebhookEndpointsController, list_webhook_event_types

logger = logging.getLogger(__name__)

API_VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the ftapi api: OpenAI-compatible routes under ``/v1`` plus probes and docs."""
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_api_services(settings) as services:
            attach_api_services(app, services)
            yield

    v1 = Router(
        path="/v1",
        route_handlers=[
            FilesController,
            DatasetController,
            UploadsController,
            FineTuningController,
            ModelsController,
            ModelImportsController,
            CheckpointPermissionsController,
            InferenceController,
            WebhookEndpointsController,
            list_webhook_event_types,
            EvalsController,
            EvalRunsController,
            GradersController,
        ],
        middleware=[ApiKeyAuthentication, RateLimitMiddleware()],
        dependencies=V1_DEPENDENCIES,
    )
    return Litestar(
        route_handlers=[v1, healthz, readyz, metrics, console_router()],
        lifespan=[lifespan, rate_limiting(settings)],
        dependencies=PROBE_DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=JsonSafeRequest,
        middleware=[AccessLogMiddleware()],
        before_send=[add_request_id_header],
        plugins=http_tracing_plugins(
            settings, request_id_of
        ),  # empty unless an OTLP endpoint is set
        request_max_body_size=settings.limits.max_json_body_bytes,
        openapi_config=OpenAPIConfig(
            title="ftapi",
            version=API_VERSION,
            description=(
                "Self-hosted, OpenAI-compatible fine-tuning API. Every /v1 route takes "
                "`Authorization: Bearer <key>`."
            ),
            path="/docs",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        logging_config=None,
        debug=False,
    )
