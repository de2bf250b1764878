"""HTTP shapes of ``POST /v1/chat/completions`` and ``POST /v1/completions``.

Requests: OpenAI's field names; the sampling fields an engine honours (``temperature``, ``top_p``,
``max_tokens``/``max_completion_tokens``, ``stop``, ``seed``, penalties) and ``n`` = 1. Unknown
top-level fields are refused with the field named, rather than silently ignored. Messages keep
their extra keys (``name``, ``tool_calls``, ``tool_call_id``): the engine's chat template reads
them.

Answers, whichever engine produced them, are read through the response models, so vLLM's extra
fields (``prompt_logprobs``, ``kv_transfer_params``, ``stop_reason``, …) never reach callers,
and ``model`` always says what the caller asked for, not the engine-side adapter name."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_STOP_SEQUENCES = 4


class StreamOptions(BaseModel):
    """Options of a streamed answer."""

    model_config = ConfigDict(extra="forbid")

    include_usage: bool | None = None


class ChatMessage(BaseModel):
    """One message of the conversation."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class _SamplingFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="A base model id or a fine-tuned model name.")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = Field(default=None, description="Only 1 is supported.")
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    user: str | None = Field(default=None, description="Accepted and not forwarded.")

    @field_validator("n")
    @classmethod
    def _only_one_choice(cls, n: int | None) -> int | None:
        if n is not None and n != 1:
            raise ValueError("only n=1 is supported")
        return n

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, stop: str | list[str] | None) -> str | list[str] | None:
        if isinstance(stop, list) and len(stop) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences are allowed")
        return stop

    @model_validator(mode="after")
    def _stream_options_need_stream(self) -> _SamplingFields:
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        return self

    def engine_payload(self, engine_model: str) -> dict[str, Any]:
        """The body for the engine: the fields the caller set, ``model`` replaced."""
        payload = self.model_dump(exclude_none=True, exclude={"user"})
        payload["model"] = engine_model
        return payload


class ChatCompletionCreate(_SamplingFields):
    """``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)


class CompletionCreate(_SamplingFields):
    """``POST /v1/completions``."""

    prompt: str | list[str] = Field(description="The prompt (a list holds one prompt each).")

    @field_validator("prompt")
    @classmethod
    def _prompt_not_empty(cls, prompt: str | list[str]) -> str | list[str]:
        if isinstance(prompt, list) and not prompt:
            raise ValueError("prompt must not be an empty list")
        return prompt


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
