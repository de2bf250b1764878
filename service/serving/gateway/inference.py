"""The api's inference gateway: ``model`` resolved for the caller, the request forwarded to an
adapter agent, the answer relayed in OpenAI's shape.

The engine-side name of an adapter never reaches the caller: answers, streamed chunks and
error messages say the model id the caller used. A request no agent could take is a 503 with
``Retry-After``, or 503 ``model_unservable`` (no retry) when the agents declined because their
engines failed the model's parity check; each agent's first such verdict becomes an event on the
model's job (``unservable.py``). An error the engine reports about the request (a prompt too
long, say) keeps its message and status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from service.auth.caller import Caller
from service.errors import (
    FtapiError,
    InvalidRequest,
    ModelUnservable,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
)
from service.models.service import model_not_found
from service.serving.engine_errors import parse_engine_error
from service.serving.gateway.agent_client import AgentClient, AgentReply, NoAgentAvailable
from service.serving.gateway.model_lookup import ServingLookup
from service.serving.gateway.schemas import (
    ChatCompletionChunkObject,
    ChatCompletionCreate,
    ChatCompletionObject,
    CompletionCreate,
    TextCompletionObject,
)
from service.serving.gateway.targets import ServingModelResolver, ServingTarget
from service.serving.gateway.unservable import UnservableRecorder, record_unservable
from service.serving.names import engine_adapter_name

logger = logging.getLogger(__name__)

CHAT_ROUTE = "/v1/chat/completions"
COMPLETIONS_ROUTE = "/v1/completions"
SSE_DONE = b"data: [DONE]\n\n"

AnswerT = TypeVar("AnswerT", bound=BaseModel)


@dataclass(frozen=True)
class CompletionStream:
    """A streamed answer: SSE ``data:`` events, the last one ``[DONE]`` (or an error)."""

    events: AsyncIterator[bytes]


class InferenceGateway:
    """Serves ``/v1/chat/completions`` and ``/v1/completions`` through the adapter agents."""

    def __init__(
        self,
        resolver: ServingModelResolver,
        agents: AgentClient,
        lookup: ServingLookup,
        *,
        retry_after_s: int = 5,
        unservable: UnservableRecorder | None = None,
    ) -> None:
        self._resolver = resolver
        self._agents = agents
        self._lookup = lookup
        self._retry_after_s = retry_after_s
        self._unservable = unservable

    async def close(self) -> None:
        """Close connections to the agents."""
        await self._agents.aclose()

    async def chat(
        self, caller: Caller, request: ChatCompletionCreate, *, request_id: str | None = None
    ) -> ChatCompletionObject | CompletionStream:
        """A chat completion (or its stream) from the model the caller named."""
        return await self._forward(
            caller,
            request,
            CHAT_ROUTE,
            ChatCompletionObject,
            ChatCompletionChunkObject,
            request_id=request_id,
        )

    async def complete(
        self, caller: Caller, request: CompletionCreate, *, request_id: str | None = None
    ) -> TextCompletionObject | CompletionStream:
        """A text completion (or its stream) from the model the caller named."""
        return await self._forward(
            caller,
            request,
            COMPLETIONS_ROUTE,
            TextCompletionObject,
            TextCompletionObject,
            request_id=request_id,
        )

    async def unpublish(self, project_id: str, model_id: str) -> None:
        """Tell every agent to unload and drop a deleted model and its checkpoints (best effort)."""
        try:
            names = await self._lookup.served_names_of_model(project_id, model_id)
            agreed = await self._agents.evict_everywhere([engine_adapter_name(n) for n in names])
            logger.info("evicting %s: %d agent(s) agreed", model_id, agreed)
        except Exception:
            logger.exception("could not ask agents to evict %s", model_id)

    async def _forward(
        self,
        caller: Caller,
        request: ChatCompletionCreate | CompletionCreate,
        route: str,
        answer_type: type[AnswerT],
        chunk_type: type[BaseModel],
        *,
        request_id: str | None,
    ) -> AnswerT | CompletionStream:
        target = await self._resolver.resolve(caller, request.model)
        body = json.dumps(request.engine_payload(target.engine_model)).encode()
        try:
            reply = await self._agents.send(
                route,
                body,
                base_model=target.base_model,
                affinity_key=target.engine_model,
                adapter_prefix=target.adapter_prefix,
                request_id=request_id,
            )
        except NoAgentAvailable as exc:
            logger.warning("no agent took a request for %s: %s", target.base_model, exc)
            await record_unservable(self._unservable, target, exc.unservable)
            if exc.unservable:
                raise ModelUnservable(
                    f"The model '{target.model_id}' cannot be served: "
                    + _public(exc.unservable[0].message, target)
                ) from None
            raise self._unavailable(target) from None
        await record_unservable(self._unservable, target, reply.unservable)
        if reply.response.status_code != 200:
            raise await self._error_of(reply, target)
        content_type = reply.response.headers.get("content-type", "")
        if request.stream and content_type.startswith("text/event-stream"):
            return CompletionStream(_relay(reply, target, chunk_type))
        try:
            payload = json.loads(await reply.response.aread())
            payload["model"] = target.model_id
            return answer_type.model_validate(payload)
        except httpx.HTTPError:
            raise self._unavailable(target) from None
        except (ValueError, TypeError, ValidationError) as exc:
            logger.error("agent %s answered a malformed completion: %s", reply.agent_url, exc)
            raise FtapiError("The inference engine gave a malformed answer.") from None
        finally:
            await reply.close()

    def _unavailable(self, target: ServingTarget) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"No inference replica can serve '{target.model_id}' right now; retry shortly.",
            retry_after_s=self._retry_after_s,
        )

    async def _error_of(self, reply: AgentReply, target: ServingTarget) -> FtapiError:
        status = reply.response.status_code
        try:
            body = await reply.response.aread()
        except httpx.HTTPError:
            return self._unavailable(target)
        finally:
            await reply.close()
        detail = parse_engine_error(status, body)
        message = _public(detail.message, target)
        if status == 404:
            return model_not_found(target.model_id)
        if status == 413:
            return PayloadTooLarge(message)
        if status == 429:
            return RateLimited(message, retry_after_s=self._retry_after_s)
        if 400 <= status < 500 and status not in (401, 403):
            return InvalidRequest(message, param=detail.param, code=detail.code)
        logger.error("agent %s answered %s: %s", reply.agent_url, status, detail.message)
        if detail.code == "adapter_unservable":
            return FtapiError(
                f"The model '{target.model_id}' could not be loaded for inference; the "
                "operators have the details.",
                code="model_unservable",
            )
        return FtapiError("The inference engine failed to answer this request.")


def _public(text: str, target: ServingTarget) -> str:
    """``text`` with the engine-side adapter name replaced by the caller's model id."""
    if target.adapter_name is None:
        return text
    return text.replace(target.adapter_name, target.model_id)


async def _relay(
    reply: AgentReply, target: ServingTarget, chunk_type: type[BaseModel]
) -> AsyncIterator[bytes]:
    """Re-emit the engine's SSE chunks in OpenAI's shape; end with [DONE] or an error event."""
    finished = False
    try:
        async for line in reply.response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[len("data:") :].strip()
            if data == "[DONE]":
                finished = True
                break
            event = _chunk_event(data, target, chunk_type)
            if event is None:
                break
            yield event
    except httpx.HTTPError as exc:
        logger.warning("stream from agent %s broke off: %s", reply.agent_url, type(exc).__name__)
    finally:
        await reply.close()
    yield (
        SSE_DONE
        if finished
        else _error_event(
            "The inference replica stopped before the answer was complete; retry the request."
        )
    )


def _chunk_event(data: str, target: ServingTarget, chunk_type: type[BaseModel]) -> bytes | None:
    try:
        payload: Any = json.loads(data)
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            error = payload["error"]
            return _error_event(_public(str(error.get("message", "")), target))
        payload["model"] = target.model_id
        chunk = chunk_type.model_validate(payload)
    except (ValueError, TypeError, ValidationError):
        logger.error("malformed stream chunk from the engine: %.200s", data)
        return None
    return b"data: " + chunk.model_dump_json(exclude_unset=True).encode() + b"\n\n"


def _error_event(message: str) -> bytes:
    error = {"message": message, "type": "api_error", "param": None, "code": "stream_error"}
    return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"
