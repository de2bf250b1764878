"""Request ids and access logs.

Every response carries ``x-request-id`` (the caller's, when it sent a sane one). The id is chosen
once per request and kept in the ASGI scope so the access log, error logs and the response agree.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Histogram

from service.logs import request_id_var

logger = logging.getLogger("ftapi.access")

_REQUEST_ID_KEY = "ftapi.request_id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

HTTP_REQUEST_SECONDS = Histogram(
    "ftapi_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


def request_id_of(scope: Scope) -> str:
    """The request id for this scope, chosen on first use."""
    state: dict[str, Any] = scope.setdefault("state", {})
    request_id = state.get(_REQUEST_ID_KEY)
    if request_id is None:
        incoming = next(
            (
                value.decode("latin-1")
                for name, value in scope.get("headers", ())
                if name == b"x-request-id"
            ),
            "",
        )
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else f"req_{uuid.uuid4().hex}"
        state[_REQUEST_ID_KEY] = request_id
    return str(request_id)


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """``before_send`` hook: stamp ``x-request-id`` on every HTTP response, 404s included."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)["x-request-id"] = request_id_of(scope)


class AccessLogMiddleware(ASGIMiddleware):
    """One JSON log line per request: method, path, status, duration; never headers or bodies."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, send_wrapper)
        finally:
            elapsed_s = time.perf_counter() - started
            _observe_request(
                str(scope.get("method")),
                str(scope.get("path_template") or "unmatched"),
                status_code,
                elapsed_s,
            )
            logger.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status_code,
                    "duration_ms": round(elapsed_s * 1000, 2),
                },
            )
            request_id_var.reset(token)


def _observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUEST_SECONDS.labels(method, route, str(status)).observe(seconds)
