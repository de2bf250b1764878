"""Request bodies, as vLLM reads them: OpenAI's fields plus the vLLM extras the engine honours.

Unknown fields are accepted and ignored, as vLLM does (it logs them). Fields the engine cannot
honour are refused with a 400 naming them rather than silently dropped: ``n`` other than 1,
``logprobs`` with ``stream``, a structured ``response_format``, ``echo`` and ``suffix``.
``logprobs`` (completions: how many alternatives; chat: ``logprobs`` + ``top_logprobs``) and
vLLM's ``return_tokens_as_token_ids`` are honoured on whole answers, in vLLM's shapes. Any
parse problem is a ``BadRequestError`` whose ``param`` is the offending field.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gpu_runner.engine.errors import BadRequestError

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
MAX_LOGPROBS = 20  # vLLM's default --max-logprobs
RequestT = TypeVar("RequestT", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LoadLoRAAdapterRequest(_Body):
    """``POST /v1/load_lora_adapter``."""

    lora_name: str = ""
    lora_path: str = ""
    load_inplace: bool = False


class UnloadLoRAAdapterRequest(_Body):
    """``POST /v1/unload_lora_adapter`` (``lora_int_id`` is accepted and unused, as in vLLM)."""

    lora_name: str = ""
    lora_int_id: int | None = None


class StreamOptions(_Body):
    """``stream_options``."""

    include_usage: bool = False
    continuous_usage_stats: bool = False


class _GenerationRequest(_Body):
    """The fields chat and text completions share."""

    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=-1)
    seed: int | None = Field(default=None, ge=_INT64_MIN, le=_INT64_MAX)
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    ignore_eos: bool = False
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    return_tokens_as_token_ids: bool = False  # vLLM: logprobs name tokens "token_id:{id}"

    @model_validator(mode="after")
    def _supported(self) -> _GenerationRequest:
        if self.n != 1:
            raise ValueError("n: only n=1 is supported by this engine")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options: can only be defined when `stream=True`.")
        return self

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """``stop`` as a tuple of non-empty strings."""
        stops = [self.stop] if isinstance(self.stop, str) else (self.stop or [])
        return tuple(text for text in stops if text)

    @property
    def include_usage(self) -> bool:
        """Whether a stream ends with a usage chunk."""
        return self.stream_options is not None and self.stream_options.include_usage


class ChatCompletionRequest(_GenerationRequest):
    """``POST /v1/chat/completions``."""

    messages: list[dict[str, Any]] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    tools: list[dict[str, Any]] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS)
    response_format: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _supported_chat(self) -> ChatCompletionRequest:
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs: when using `top_logprobs`, `logprobs` must be true")
        if self.logprobs and self.stream:
            raise ValueError("logprobs: not supported with stream by this engine")
        if self.response_format is not None and self.response_format.get("type") != "text":
            raise ValueError("response_format: only {'type': 'text'} is supported by this engine")
        return self

    @property
    def output_limit(self) -> int | None:
        """The token budget asked for (``max_completion_tokens`` wins, as in vLLM)."""
        return self.max_completion_tokens or self.max_tokens

    @property
    def top_count(self) -> int | None:
        """Alternatives to report per token; None when no logprobs are asked for."""
        return (self.top_logprobs or 0) if self.logprobs else None


class CompletionRequest(_GenerationRequest):
    """``POST /v1/completions`` with one prompt: text, a list of one text, or token ids."""

    prompt: str | list[int] | list[str]
    logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS)
    echo: bool = False
    suffix: str | None = None

    @model_validator(mode="after")
    def _supported_completion(self) -> CompletionRequest:
        if self.logprobs is not None and self.stream:
            raise ValueError("logprobs: not supported with stream by this engine")
        if self.echo:
            raise ValueError("echo: not supported by this engine")
        if self.suffix is not None:
            raise ValueError("suffix: not currently supported")
        if isinstance(self.prompt, list) and not self.prompt:
            raise ValueError("prompt: must not be empty")
        if (
            isinstance(self.prompt, list)
            and isinstance(self.prompt[0], str)
            and len(self.prompt) > 1
        ):
            raise ValueError("prompt: this engine takes one prompt per request")
        return self

    @property
    def output_limit(self) -> int | None:
        """The token budget asked for."""
        return self.max_tokens

    @property
    def top_count(self) -> int | None:
        """Alternatives to report per token; None when no logprobs are asked for."""
        return self.logprobs


MAX_EMBEDDING_INPUTS = 2048  # OpenAI's limit on one request's inputs


class EmbeddingRequest(_Body):
    """``POST /v1/embeddings``: text inputs only (token arrays are not accepted)."""

    model: str | None = None
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)

    @field_validator("input", mode="before")
    @classmethod
    def _text_inputs_in_bounds(cls, value: object) -> object:
        # Checked before the union, so every refusal names `input` itself.
        if isinstance(value, str):
            return value
        if not isinstance(value, list) or not all(isinstance(text, str) for text in value):
            raise ValueError("input must be a string or a list of strings")
        if not 1 <= len(value) <= MAX_EMBEDDING_INPUTS:
            raise ValueError(f"input must hold 1 to {MAX_EMBEDDING_INPUTS} strings")
        return value


def parse_body(model: type[RequestT], body: bytes) -> RequestT:
    """``body`` as ``model``; ``BadRequestError`` naming the first bad field otherwise."""
    try:
        data = json.loads(body) if body else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequestError(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequestError("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        location = ".".join(str(part) for part in error["loc"])
        if location:
            raise BadRequestError(f"{location}: {message}", param=location) from exc
        # Checks across fields (the validators above) start their message with the field.
        param, separator, _ = message.partition(": ")
        raise BadRequestError(message, param=param if separator else None) from exc
