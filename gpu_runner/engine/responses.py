"""Response bodies in vLLM's shapes (OpenAI's, plus vLLM's ``stop_reason`` and model-card fields).

Plain dicts, built in one place each; ``http`` serializes them.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from gpu_runner.engine.adapters import AdapterRecord
from gpu_runner.engine.generation import GenerationEnd

SSE_DONE = b"data: [DONE]\n\n"


def new_id(prefix: str) -> str:
    """A response id such as ``chatcmpl-<hex>``."""
    return f"{prefix}-{uuid.uuid4().hex}"


def _permission(created: int) -> dict[str, Any]:
    return {
        "id": new_id("modelperm"),
        "object": "model_permission",
        "created": created,
        "allow_create_engine": False,
        "allow_sampling": True,
        "allow_logprobs": True,
        "allow_search_indices": False,
        "allow_view": True,
        "allow_fine_tuning": False,
        "organization": "*",
        "group": None,
        "is_blocking": False,
    }


def _card(
    model_id: str, root: str, parent: str | None, max_model_len: int | None, created: int
) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": "vllm",
        "root": root,
        "parent": parent,
        "max_model_len": max_model_len,
        "permission": [_permission(created)],
    }


def model_list(
    base_name: str, base_root: str, max_model_len: int, adapters: list[AdapterRecord]
) -> dict[str, Any]:
    """``GET /v1/models``: the base card (``parent`` null), then one card per adapter."""
    now = int(time.time())
    cards = [_card(base_name, base_root, None, max_model_len, now)]
    cards += [_card(record.name, record.path, base_name, None, now) for record in adapters]
    return {"object": "list", "data": cards}


def usage(end: GenerationEnd) -> dict[str, Any]:
    """The ``usage`` object of a finished generation."""
    return {
        "prompt_tokens": end.prompt_tokens,
        "completion_tokens": end.completion_tokens,
        "total_tokens": end.prompt_tokens + end.completion_tokens,
    }


def chat_completion(
    response_id: str,
    created: int,
    model: str,
    text: str,
    end: GenerationEnd,
    logprobs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole ``chat.completion``."""
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": text, "tool_calls": []},
        "logprobs": logprobs,
        "finish_reason": end.finish_reason,
        "stop_reason": end.stop_reason,
    }
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": usage(end),
    }


def text_completion(
    response_id: str,
    created: int,
    model: str,
    text: str,
    end: GenerationEnd,
    logprobs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole ``text_completion``."""
    choice = {
        "index": 0,
        "text": text,
        "logprobs": logprobs,
        "finish_reason": end.finish_reason,
        "stop_reason": end.stop_reason,
    }
    return {
        "id": response_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": usage(end),
    }


def chat_chunk(
    response_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    end: GenerationEnd | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` with one choice."""
    choice = {
        "index": 0,
        "delta": delta,
        "logprobs": None,
        "finish_reason": end.finish_reason if end else None,
        "stop_reason": end.stop_reason if end else None,
    }
    return {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [choice],
    }


def completion_chunk(
    response_id: str, created: int, model: str, text: str, end: GenerationEnd | None = None
) -> dict[str, Any]:
    """One streamed ``text_completion`` with one choice."""
    choice = {
        "index": 0,
        "text": text,
        "logprobs": None,
        "finish_reason": end.finish_reason if end else None,
        "stop_reason": end.stop_reason if end else None,
    }
    return {
        "id": response_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [choice],
    }


def usage_chunk(
    response_id: str, created: int, model: str, object_name: str, end: GenerationEnd
) -> dict[str, Any]:
    """The last chunk of a stream with ``stream_options.include_usage``: no choices, usage."""
    return {
        "id": response_id,
        "object": object_name,
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage(end),
    }


def sse_event(payload: dict[str, Any]) -> bytes:
    """One server-sent event carrying ``payload`` as JSON."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return b"data: " + text.encode() + b"\n\n"
