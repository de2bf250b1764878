"""vLLM's routes on Litestar: thin handlers that parse the body, call the engine, shape the reply.

Routes: ``GET /health``, ``GET /metrics``, ``GET /v1/models``, ``POST /v1/chat/completions``,
``POST /v1/completions``, ``POST /v1/embeddings`` when an embedding model is loaded, and, when
runtime LoRA updating is on (vLLM's ``VLLM_ALLOW_RUNTIME_LORA_UPDATING``),
``POST /v1/load_lora_adapter`` and
``POST /v1/unload_lora_adapter``, whose success bodies are plain text as in vLLM. With an api key,
every ``/v1`` route wants ``Authorization: Bearer <key>`` and answers 401 ``{"error":
"Unauthorized"}`` otherwise, like vLLM's middleware.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from http import HTTPStatus
from typing import Any, cast

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.response import Stream
from litestar.types import BeforeRequestHookHandler, ControllerRouterHandler

from gpu_runner.engine import responses
from gpu_runner.engine.embeddings import Embedder
from gpu_runner.engine.engine import Engine, PreparedGeneration, Started
from gpu_runner.engine.errors import EngineError
from gpu_runner.engine.generation import GenerationEnd, GenerationEvent, TextDelta, TokenScored
from gpu_runner.engine.logprobs import chat_logprobs, completion_logprobs, token_namer
from gpu_runner.engine.metrics import render_metrics
from gpu_runner.engine.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    LoadLoRAAdapterRequest,
    UnloadLoRAAdapterRequest,
    parse_body,
)

logger = logging.getLogger(__name__)
_EVENT_STREAM = "text/event-stream"
Events = AsyncGenerator[Started | GenerationEvent, None]


def _engine(request: Request[Any, Any, Any]) -> Engine:
    return cast(Engine, request.app.state["engine"])


@get("/health", sync_to_thread=False)
def health() -> Response[bytes]:
    """200 with an empty body once the model is loaded (vLLM's liveness probe)."""
    return Response(content=b"", status_code=200)


@get("/metrics")
async def metrics(request: Request[Any, Any, Any]) -> Response[str]:
    """Prometheus text with vLLM's request and LoRA gauges."""
    engine = _engine(request)
    page = render_metrics(
        engine.config.model_name,
        running=engine.worker.running,
        waiting=engine.worker.waiting,
        max_loras=engine.config.max_loras,
        running_adapters=engine.running_adapters,
        waiting_adapters=engine.waiting_adapters,
    )
    return Response(content=page, media_type="text/plain; version=0.0.4; charset=utf-8")


@get("/v1/models")
async def list_models(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The base model card, then one card per registered adapter (``parent`` = the base)."""
    return Response(content=_engine(request).model_list(), media_type=MediaType.JSON)


@post("/v1/load_lora_adapter", status_code=200)
async def load_lora_adapter(request: Request[Any, Any, Any]) -> Response[str]:
    """Register an adapter and load its weights; 200 with vLLM's plain-text success line."""
    body = parse_body(LoadLoRAAdapterRequest, await request.body())
    text = await _engine(request).load_adapter(body)
    return Response(content=text, media_type=MediaType.TEXT)


@post("/v1/unload_lora_adapter", status_code=200)
async def unload_lora_adapter(request: Request[Any, Any, Any]) -> Response[str]:
    """Forget an adapter and free its weights; 200 with vLLM's plain-text success line."""
    body = parse_body(UnloadLoRAAdapterRequest, await request.body())
    text = await _engine(request).unload_adapter(body)
    return Response(content=text, media_type=MediaType.TEXT)


@post("/v1/chat/completions", status_code=200)
async def chat_completions(request: Request[Any, Any, Any]) -> Response[Any]:
    """A chat completion from the base model or an adapter, whole or as server-sent events."""
    engine = _engine(request)
    body = parse_body(ChatCompletionRequest, await request.body())
    prepared = await engine.prepare_chat(body)
    response_id, created, model = responses.new_id("chatcmpl"), int(time.time()), prepared.model
    if not body.stream:
        text, end, scored = await _run_to_end(engine, prepared)
        name = token_namer(engine.token_text, as_token_ids=body.return_tokens_as_token_ids)
        logprobs = chat_logprobs(scored, name) if body.logprobs else None
        payload = responses.chat_completion(response_id, created, model, text, end, logprobs)
        return Response(content=payload, media_type=MediaType.JSON)

    def chunk(delta: dict[str, Any], end: GenerationEnd | None = None) -> dict[str, Any]:
        return responses.chat_chunk(response_id, created, model, delta, end)

    return _event_stream(
        await _started(engine, prepared),
        opening=[chunk({"role": "assistant", "content": ""})],
        on_text=lambda text: chunk({"content": text}),
        on_end=lambda end: chunk({}, end),
        on_usage=(
            (
                lambda end: responses.usage_chunk(
                    response_id, created, model, "chat.completion.chunk", end
                )
            )
            if body.include_usage
            else None
        ),
    )


@post("/v1/completions", status_code=200)
async def completions(request: Request[Any, Any, Any]) -> Response[Any]:
    """A text completion from the base model or an adapter, whole or as server-sent events."""
    engine = _engine(request)
    body = parse_body(CompletionRequest, await request.body())
    prepared = await engine.prepare_completion(body)
    response_id, created, model = responses.new_id("cmpl"), int(time.time()), prepared.model
    if not body.stream:
        text, end, scored = await _run_to_end(engine, prepared)
        name = token_namer(engine.token_text, as_token_ids=body.return_tokens_as_token_ids)
        logprobs = None if body.logprobs is None else completion_logprobs(scored, name)
        payload = responses.text_completion(response_id, created, model, text, end, logprobs)
        return Response(content=payload, media_type=MediaType.JSON)
    return _event_stream(
        await _started(engine, prepared),
        opening=[],
        on_text=lambda text: responses.completion_chunk(response_id, created, model, text),
        on_end=lambda end: responses.completion_chunk(response_id, created, model, "", end),
        on_usage=(
            (lambda end: responses.usage_chunk(response_id, created, model, "text_completion", end))
            if body.include_usage
            else None
        ),
    )


@post("/v1/embeddings", status_code=200)
async def embeddings(request: Request[Any, Any, Any]) -> Response[dict[str, object]]:
    """Sentence embeddings from the engine's embedding model (``--embedding-model``)."""
    embedder = cast(Embedder, request.app.state["embedder"])
    body = parse_body(EmbeddingRequest, await request.body())
    return Response(content=await embedder.answer(body), media_type=MediaType.JSON)


def _event_stream(
    events: Events,
    *,
    opening: list[dict[str, Any]],
    on_text: Callable[[str], dict[str, Any]],
    on_end: Callable[[GenerationEnd], dict[str, Any]],
    on_usage: Callable[[GenerationEnd], dict[str, Any]] | None,
) -> Stream:
    """Server-sent events: the opening chunks, one per text piece, the finish chunk, the usage
    chunk if asked for, then ``data: [DONE]``. An error mid-stream is sent as an error event
    before ``[DONE]``, as vLLM does."""

    async def chunks() -> AsyncIterator[bytes]:
        for payload in opening:
            yield responses.sse_event(payload)
        async with aclosing(events):
            try:
                async for event in events:
                    if isinstance(event, TextDelta):
                        yield responses.sse_event(on_text(event.text))
                    elif isinstance(event, GenerationEnd):
                        yield responses.sse_event(on_end(event))
                        if on_usage is not None:
                            yield responses.sse_event(on_usage(event))
            except EngineError as exc:
                yield responses.sse_event(exc.body())
            except Exception as exc:
                logger.exception("generation failed mid-stream")
                yield responses.sse_event(EngineError(f"generation failed: {exc}").body())
        yield responses.SSE_DONE

    return Stream(chunks(), media_type=_EVENT_STREAM)


async def _run_to_end(
    engine: Engine, prepared: PreparedGeneration
) -> tuple[str, GenerationEnd, list[TokenScored]]:
    """The whole output text, how it ended, and each token's logprobs (if asked for)."""
    pieces: list[str] = []
    scored: list[TokenScored] = []
    async with aclosing(engine.events(prepared)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                pieces.append(event.text)
            elif isinstance(event, TokenScored):
                scored.append(event)
            elif isinstance(event, GenerationEnd):
                return "".join(pieces), event, scored
    raise EngineError("the generation ended without a result")


async def _started(engine: Engine, prepared: PreparedGeneration) -> Events:
    """The request's events once its adapter is in place, so that failing to get there (say,
    an evicted adapter whose files are gone) is an ordinary error response, not a broken stream.
    """
    events = engine.events(prepared)
    first = await anext(events)
    if not isinstance(first, Started):
        await events.aclose()
        raise EngineError("the generation did not start")
    return events


def _engine_error(_: Request[Any, Any, Any], exc: EngineError) -> Response[dict[str, Any]]:
    return Response(content=exc.body(), status_code=exc.status, media_type=MediaType.JSON)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Routing errors (404, 405) in the same envelope, typed by the status phrase as vLLM does."""
    status = HTTPStatus(exc.status_code)
    error = EngineError(str(exc.detail) or status.phrase)
    body = error.body()
    body["error"] |= {"type": status.phrase, "code": status.value}
    return Response(content=body, status_code=status.value, media_type=MediaType.JSON)


def _internal_error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("unhandled error", exc_info=exc)
    error = EngineError(f"internal error: {type(exc).__name__}")
    return Response(content=error.body(), status_code=500, media_type=MediaType.JSON)


def _api_key_guard(api_key: str) -> BeforeRequestHookHandler:
    """A hook refusing /v1 requests without `Authorization: Bearer <api_key>`."""
    expected = f"Bearer {api_key}".encode()

    async def check(request: Request[Any, Any, Any]) -> Response[dict[str, str]] | None:
        if not request.url.path.startswith("/v1") or request.method == "OPTIONS":
            return None
        given = request.headers.get("authorization", "").encode()
        if hmac.compare_digest(given, expected):
            return None
        return Response(
            content={"error": "Unauthorized"}, status_code=401, media_type=MediaType.JSON
        )

    return check


def create_app(engine: Engine, embedder: Embedder | None = None) -> Litestar:
    """The engine's ASGI app (the engine, and the embedder if any, are loaded already; the app
    only serves them)."""
    handlers: list[ControllerRouterHandler] = [
        health,
        metrics,
        list_models,
        chat_completions,
        completions,
    ]
    if engine.config.runtime_lora_updating:
        handlers += [load_lora_adapter, unload_lora_adapter]
    if embedder is not None:
        handlers.append(embeddings)
    api_key = engine.config.api_key
    return Litestar(
        route_handlers=handlers,
        state=State({"engine": engine, "embedder": embedder}),
        before_request=_api_key_guard(api_key) if api_key else None,
        exception_handlers={
            EngineError: _engine_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        on_shutdown=[engine.close],
        openapi_config=None,
        logging_config=None,
    )
