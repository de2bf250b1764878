"""Routes of the inference gateway: ``POST /v1/chat/completions`` and ``POST /v1/completions``.

Thin handlers: the gateway resolves the model and talks to the agents. With ``stream: true`` the
answer is ``text/event-stream``: ``data: {chunk}`` events ending with ``data: [DONE]``.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.response import Stream
from litestar.response.base import ASGIResponse

from service.http.dependencies import CallerDep
from service.http.request_context import request_id_of
from service.serving.gateway.inference import CompletionStream, InferenceGateway
from service.serving.gateway.schemas import (
    ChatCompletionCreate,
    ChatCompletionObject,
    CompletionCreate,
    TextCompletionObject,
)

ServingDep: TypeAlias = NamedDependency[InferenceGateway]


class _EventStream(Stream):
    """An SSE stream that keeps ``text/event-stream`` although its handler may answer JSON."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        kwargs["media_type"] = None
        return super().to_asgi_response(*args, **kwargs)


def _sse(stream: CompletionStream) -> _EventStream:
    return _EventStream(
        stream.events,
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


class InferenceController(Controller):
    """OpenAI's inference routes, served by base models and the project's fine-tuned models."""

    path = "/"
    tags = ("Inference",)

    @post("/chat/completions", status_code=200, summary="Create a chat completion")
    async def create_chat_completion(
        self,
        caller: CallerDep,
        serving: ServingDep,
        data: JSONBody[ChatCompletionCreate],
        request: Request[Any, Any, Any],
    ) -> ChatCompletionObject | _EventStream:
        """A chat completion from a base model, fine-tuned model or checkpoint (`model`).

        With `stream: true`, server-sent `chat.completion.chunk` events ending `data: [DONE]`.
        """
        answer = await serving.chat(caller, data, request_id=request_id_of(request.scope))
        return _sse(answer) if isinstance(answer, CompletionStream) else answer

    @post("/completions", status_code=200, summary="Create a completion")
    async def create_completion(
        self,
        caller: CallerDep,
        serving: ServingDep,
        data: JSONBody[CompletionCreate],
        request: Request[Any, Any, Any],
    ) -> TextCompletionObject | _EventStream:
        """A text completion of `prompt` (no chat template) from the model named by `model`.

        With `stream: true`, server-sent `text_completion` events ending `data: [DONE]`.
        """
        answer = await serving.complete(caller, data, request_id=request_id_of(request.scope))
        return _sse(answer) if isinstance(answer, CompletionStream) else answer
