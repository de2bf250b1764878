"""Optional OpenTelemetry tracing: HTTP requests in the api, tasks in the workers.

Off unless an OTLP endpoint is configured (``FTAPI_OTEL__ENDPOINT``, or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` the exporter reads
itself). Off, nothing here imports ``opentelemetry``: the ``otel`` extra costs nothing when
unused, and a configured endpoint without the extra installed logs one warning and stays off.

Spans carry the ids that tie them to the logs: ``ftapi.request_id`` on request spans, and the
arq job id plus the file, fine-tuning job or delivery id a task works on, on task spans.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from service.ids import IdPrefix
from service.settings import Settings

if TYPE_CHECKING:
    from litestar.config.app import AppConfig
    from litestar.plugins import PluginProtocol
    from litestar.types import Message, Scope
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

logger = logging.getLogger(__name__)

STANDARD_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
TRACES_PATH = "/v1/traces"
# Task arguments that name the object a task works on, by their id prefix.
_ID_ATTRIBUTES = {
    IdPrefix.FILE: "ftapi.file_id",
    IdPrefix.JOB: "ftapi.job_id",
    IdPrefix.WEBHOOK_DELIVERY: "ftapi.delivery_id",
}

TaskFunction = Callable[..., Awaitable[Any]]


def tracing_configured(settings: Settings) -> bool:
    """Whether an OTLP endpoint is configured (ours or the standard variables)."""
    return bool(settings.otel.endpoint) or any(
        os.environ.get(name) for name in STANDARD_ENDPOINT_VARIABLES
    )


def build_tracer_provider(settings: Settings, component: str) -> TracerProvider | None:
    """A provider exporting over OTLP/HTTP in batches, or None when tracing is off."""
    if not tracing_configured(settings):
        return None
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        logger.warning("tracing is configured but the `otel` extra is not installed: no spans")
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = settings.otel.endpoint
    # Like the standard variable, our setting names the collector; the traces path is added.
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + TRACES_PATH if endpoint else None)
    resource = Resource.create({SERVICE_NAME: f"{settings.otel.service_name}-{component}"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def http_tracing_plugins(
    settings: Settings, request_id_of: Callable[[Scope], str]
) -> list[PluginProtocol]:
    """Litestar's OpenTelemetry plugin around every request, or nothing when tracing is off.

    Each request's span is tagged with ``request_id_of(scope)``: the api passes its own, so this
    package depends on no HTTP code of ours."""
    provider = build_tracer_provider(settings, "api")
    if provider is None:
        return []
    from litestar.plugins import InitPlugin
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    # Litestar finds its OpenTelemetry plugin by class name, so the renaming hook comes in a
    # plugin of its own rather than a subclass.
    class SpanNamingPlugin(InitPlugin):
        """Names each request's span after its route template once routing has chosen one."""

        def on_app_init(self, app_config: AppConfig) -> AppConfig:
            app_config.before_send.append(_name_span_after_route)
            return app_config

    config = OpenTelemetryConfig(
        tracer_provider=provider,
        server_request_hook_handler=functools.partial(_tag_request_id, request_id_of),
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
    )
    return [OpenTelemetryPlugin(config), SpanNamingPlugin()]


def _tag_request_id(
    request_id_of: Callable[[Scope], str], span: Span, scope: dict[str, Any]
) -> None:
    if span.is_recording():
        span.set_attribute("ftapi.request_id", request_id_of(scope))  # type: ignore[arg-type]


def _name_span_after_route(message: Message, scope: Scope) -> None:
    # The plugin's middleware runs before routing and can only name the span after the path;
    # ids in paths would make every name unique, so the template replaces it at response start.
    from opentelemetry.trace import get_current_span

    template = scope.get("path_template")
    if message["type"] != "http.response.start" or not template:
        return
    span = get_current_span()
    if span.is_recording():
        span.update_name(f"{scope.get('method', '')} {template}")
        span.set_attribute("http.route", str(template))


def traced_worker_options(
    options: dict[str, Any], settings: Settings, component: str
) -> dict[str, Any]:
    """``arq.Worker`` options whose tasks and cron jobs each run in a span (unchanged when off)."""
    provider = build_tracer_provider(settings, component)
    if provider is None:
        return options
    tracer = provider.get_tracer("ftapi.worker")
    queue = str(options.get("queue_name", component))
    traced = dict(options)
    for kind in ("functions", "cron_jobs"):
        traced[kind] = [
            dataclasses.replace(task, coroutine=_traced(tracer, queue, task.name, task.coroutine))
            for task in options.get(kind, [])
        ]
    return traced


def _traced(tracer: Tracer, queue: str, name: str, coroutine: TaskFunction) -> TaskFunction:
    from arq import Retry
    from opentelemetry.trace import SpanKind, Status, StatusCode

    @functools.wraps(coroutine)
    async def run_in_span(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        attributes: dict[str, str | int] = {
            "messaging.system": "arq",
            "messaging.destination.name": queue,
            "arq.job_id": str(ctx.get("job_id", "")),
            "arq.job_try": int(ctx.get("job_try", 1)),
            **_id_attributes(args),
        }
        with tracer.start_as_current_span(
            f"{queue} {name}",
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                return await coroutine(ctx, *args, **kwargs)
            except Retry:  # arq's way to defer a task: not a failure
                span.set_attribute("arq.retry", True)
                raise
            except BaseException as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

    return run_in_span


def _id_attributes(args: tuple[Any, ...]) -> Mapping[str, str]:
    return {
        attribute: arg
        for arg in args
        if isinstance(arg, str)
        for prefix, attribute in _ID_ATTRIBUTES.items()
        if arg.startswith(prefix.value)
    }
