"""Answers of the inference routes in OpenAI's shapes, whichever engine produced them.

Engine answers are read through these models, so vLLM's extra fields (``prompt_logprobs``,
``kv_transfer_params``, ``stop_reason``, …) never reach callers, and ``model`` always says what
the caller asked for, not the engine-side adapter name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CompletionUsage(_Wire):
    """Token counts of a request."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionMessageObject(_Wire):
    """The assistant message of a choice."""

    role: Literal["assistant"] = "assistant"
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChatCompletionChoiceObject(_Wire):
    """One choice of a chat completion."""

    index: int
    message: ChatCompletionMessageObject
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class ChatCompletionObject(_Wire):
    """OpenAI's ``chat.completion``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatCompletionChoiceObject]
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None


class ChunkDeltaObject(_Wire):
    """What a streamed chunk adds to the message."""

    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChunkChoiceObject(_Wire):
    """One choice of a streamed chunk."""

    index: int
    delta: ChunkDeltaObject
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class ChatCompletionChunkObject(_Wire):
    """OpenAI's ``chat.completion.chunk`` (an SSE ``data:`` line)."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoiceObject]
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None


class TextCompletionChoiceObject(_Wire):
    """One choice of a text completion (or of one streamed chunk of it)."""

    index: int
    text: str
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class TextCompletionObject(_Wire):
    """OpenAI's ``text_completion``; streamed chunks have the same shape."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[TextCompletionChoiceObject]
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None
