"""The adapter agent's HTTP app (``ftapi agent``): internal, reached only by the api.

Routes: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (proxied to the engine once
the adapter named by ``model`` is loaded; the blob prefix it was published under comes in the
``x-ftapi-adapter-prefix`` header, absent for the base model), ``POST /agent/evict``
(``{"adapter": name}``: unload and delete once idle), ``GET /agent/state``, ``GET /metrics``
(Prometheus) and ``GET /health``. With an api key configured, every route but ``/health`` wants
``Authorization: Bearer <key>``. Errors use OpenAI's envelope; 503 means "try another replica"
(503 ``model_unservable``: this replica's engine failed the adapter's parity check).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar, Request, Response, get, post
from litestar.params import JSONBody
from litestar.response import Stream
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from service.blobstore.protocol import BlobStore
from service.models.parity_probes import DEFAULT_LOGPROB_ATOL
from service.serving.agent.adapter_cache import AdapterCache
from service.serving.agent.agent import AdapterAgent, BadAgentRequest, EngineReply
from service.serving.agent.engine_client import EngineClient
from service.serving.agent.loaded_adapters import ResidencyRegistry
from service.serving.agent.parity import ParityCheck
from service.serving.errors import (
    AdapterUnservable,
    AgentBusy,
    EngineUnavailable,
    ModelUnservable,
    ServingError,
)
from service.serving.names import (
    ADAPTER_PREFIX_HEADER,
    AGENT_EVICT_PATH,
    AGENT_STATE_PATH,
    FIRST_REPORT_HEADER,
    MODEL_UNSERVABLE_CODE,
    REQUEST_ID_HEADER,
)

logger = logging.getLogger(__name__)

_AGENT_STATE_KEY = "adapter_agent"
MAX_REQUEST_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class AgentConfig:
    """How one agent is set up (``ftapi agent`` options)."""

    engine_url: str
    cache_dir: Path
    max_cpu_loras: int
    cache_max_bytes: int = 20 * 1024**3
    cache_max_entries: int | None = None
    max_lora_rank: int = 512
    api_key: str | None = None
    engine_api_key: str | None = None
    slot_wait_s: float = 5.0
    resync_interval_s: float = 30.0
    engine_load_timeout_s: float = 60.0
    inference_timeout_s: float = 600.0
    parity_logprob_atol: float = DEFAULT_LOGPROB_ATOL  # see service.models.parity_probes


def build_agent(config: AgentConfig, blobs: BlobStore) -> AdapterAgent:
    """Wire an agent's engine client, registry and cache."""
    engine = EngineClient(
        config.engine_url,
        api_key=config.engine_api_key,
        load_timeout_s=config.engine_load_timeout_s,
        inference_timeout_s=config.inference_timeout_s,
    )
    registry = ResidencyRegistry(engine, config.max_cpu_loras, slot_wait_s=config.slot_wait_s)
    cache = AdapterCache(
        config.cache_dir,
        blobs,
        max_bytes=config.cache_max_bytes,
        max_entries=config.cache_max_entries,
        max_lora_rank=config.max_lora_rank,
        is_pinned=registry.holds,
    )
    parity = ParityCheck(engine, blobs, logprob_atol=config.parity_logprob_atol)
    return AdapterAgent(engine, cache, registry, parity, resync_interval_s=config.resync_interval_s)


def create_agent_app(config: AgentConfig, blobs: BlobStore) -> Litestar:
    """The agent's app; it owns ``blobs`` and closes it at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        config.cache_dir.mkdir(parents=True, exist_ok=True)
        agent = build_agent(config, blobs)
        await agent.start()
        app.state[_AGENT_STATE_KEY] = agent
        try:
            yield
        finally:
            await agent.close()
            await blobs.close()

    async def require_key(request: Request[Any, Any, Any]) -> Response[Any] | None:
        if config.api_key is None or request.url.path == "/health":
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(given, config.api_key.encode()):
            return None
        return _error(
            401, "invalid or missing agent key", "invalid_api_key", "invalid_request_error"
        )

    return Litestar(
        route_handlers=[chat_completions, completions, evict, state, metrics, health],
        lifespan=[lifespan],
        before_request=require_key,
        exception_handlers={ServingError: _serving_error, BadAgentRequest: _bad_request},
        request_max_body_size=MAX_REQUEST_BYTES,
        openapi_config=None,
        logging_config=None,
    )


def _agent(request: Request[Any, Any, Any]) -> AdapterAgent:
    agent: AdapterAgent = request.app.state[_AGENT_STATE_KEY]
    return agent


@post("/v1/chat/completions", status_code=200)
async def chat_completions(request: Request[Any, Any, Any]) -> Response[Any]:
    """Proxy a chat completion to the engine, its adapter loaded first."""
    return await _proxy(request, "/v1/chat/completions")


@post("/v1/completions", status_code=200)
async def completions(request: Request[Any, Any, Any]) -> Response[Any]:
    """Proxy a completion to the engine, its adapter loaded first."""
    return await _proxy(request, "/v1/completions")


@post(AGENT_EVICT_PATH, status_code=202)
async def evict(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Unload an adapter once its requests finish and delete its cached directory."""
    name = data.get("adapter")
    if not isinstance(name, str):
        raise BadAgentRequest('the body must be {"adapter": name}')
    await _agent(request).evict(name)
    return {"adapter": name, "evicting": True}


@get(AGENT_STATE_PATH)
async def state(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Loaded adapters with their in-flight counts, and the cache's contents."""
    return _agent(request).state()


@get("/metrics")
async def metrics() -> Response[bytes]:
    """This agent's Prometheus metrics (``ftapi_agent_model_unservable_total{reason}``)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@get("/health")
async def health() -> dict[str, str]:
    """The agent process answers."""
    return {"status": "ok"}


async def _proxy(request: Request[Any, Any, Any], route: str) -> Response[Any]:
    body = await request.body()
    reply = await _agent(request).open(
        route,
        body,
        adapter_prefix=request.headers.get(ADAPTER_PREFIX_HEADER),
        request_id=request.headers.get(REQUEST_ID_HEADER),
    )
    media_type = reply.response.headers.get("content-type", "application/json")
    if reply.is_stream and reply.response.status_code == 200:
        return Stream(
            _relay(reply),
            status_code=200,
            media_type=media_type,
            headers={"cache-control": "no-cache"},
        )
    try:
        content = await reply.response.aread()
    except httpx.TransportError as exc:
        raise EngineUnavailable(f"the engine broke off its answer: {type(exc).__name__}") from exc
    finally:
        await reply.close()
    return Response(content, status_code=reply.response.status_code, media_type=media_type)


async def _relay(reply: EngineReply) -> AsyncIterator[bytes]:
    try:
        async for chunk in reply.response.aiter_raw():
            yield chunk
    except httpx.TransportError as exc:
        # The caller sees the stream end without [DONE] and reports the failure.
        logger.warning("engine stream broke off: %s", type(exc).__name__)
    finally:
        await reply.close()


def _serving_error(_: Request[Any, Any, Any], exc: ServingError) -> Response[Any]:
    if isinstance(exc, AgentBusy):
        return _error(503, exc.message, "agent_busy", retry_after_s=1)
    if isinstance(exc, EngineUnavailable):
        return _error(503, exc.message, "engine_unavailable", retry_after_s=2)
    if isinstance(exc, ModelUnservable):
        response = _error(503, exc.message, MODEL_UNSERVABLE_CODE)
        if exc.first_report:
            response.headers[FIRST_REPORT_HEADER] = "true"
        return response
    if isinstance(exc, AdapterUnservable):
        logger.error("adapter cannot be served: %s", exc.message)
        return _error(500, exc.message, "adapter_unservable")
    logger.error("serving error: %s", exc.message)
    return _error(500, exc.message, "agent_error")


def _bad_request(_: Request[Any, Any, Any], exc: BadAgentRequest) -> Response[Any]:
    return _error(400, str(exc), "bad_agent_request", "invalid_request_error")


def _error(
    status_code: int,
    message: str,
    code: str,
    error_type: str = "service_unavailable",
    *,
    retry_after_s: int | None = None,
) -> Response[Any]:
    headers = {} if retry_after_s is None else {"retry-after": str(retry_after_s)}
    if status_code >= 500 and status_code != 503:
        error_type = "api_error"
    return Response(
        {"error": {"message": message, "type": error_type, "param": None, "code": code}},
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )
