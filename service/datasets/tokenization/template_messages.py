"""OpenAI training messages turned into the message shape Hugging Face chat templates expect.

The two shapes differ in a few places, each handled here once:

- ``developer`` is OpenAI's newer name for ``system`` (and ``function`` the old one for
  ``tool``); templates only know ``system`` and ``tool``.
- Content may be a list of parts; text parts are joined with newlines (as vLLM does when it
  flattens parts for a string-content template). Other parts are reported, not rendered.
- Tool-call ``arguments`` is a JSON string on the wire but a mapping in HF templates (they
  ``tojson`` it), so a string holding a JSON object is parsed.
- ``weight`` says what to train on and is not for the template; neither are ``refusal`` and
  keys whose value is null (transformers drops those too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_ROLE_ALIASES = {"developer": "system", "function": "tool"}
_PASSED_KEYS = ("name", "tool_call_id")


class MalformedExampleError(ValueError):
    """The example does not have the shape of its format (the validator normally catches this)."""

    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class TextField:
    """A piece of user-supplied text and its JSON path in the example."""

    param: str
    text: str


@dataclass
class TemplateConversation:
    """Messages ready for a chat template, with what tokenization needs to know about them."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    trained: list[bool] = field(default_factory=list)
    text_fields: list[TextField] = field(default_factory=list)
    skipped_parts: list[str] = field(default_factory=list)


def convert_messages(messages: object, path: str = "messages") -> TemplateConversation:
    """Convert OpenAI ``messages``; ``path`` is their JSON path, for the params of problems.

    An assistant message is trained unless its ``weight`` is 0.
    """
    if not isinstance(messages, list) or not messages:
        raise MalformedExampleError("messages must be a non-empty list", path)
    conversation = TemplateConversation()
    for index, message in enumerate(messages):
        param = f"{path}[{index}]"
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise MalformedExampleError("each message must be an object with a role", param)
        role = message["role"]
        out: dict[str, Any] = {"role": _ROLE_ALIASES.get(role, role)}
        out["content"] = _content_text(message.get("content"), f"{param}.content", conversation)
        for key in _PASSED_KEYS:
            if message.get(key) is not None:
                out[key] = message[key]
        if message.get("tool_calls"):
            out["tool_calls"] = _tool_calls(message["tool_calls"], param, conversation)
        conversation.messages.append(out)
        conversation.trained.append(role == "assistant" and message.get("weight", 1) != 0)
    return conversation


def convert_tools(tools: object, path: str = "tools") -> list[Any] | None:
    """The example's top-level ``tools``, passed to templates unchanged (OpenAI and HF agree)."""
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise MalformedExampleError("tools must be a list", path)
    return tools


def _content_text(content: object, param: str, conversation: TemplateConversation) -> str:
    if content is None:
        return ""  # assistant turns that only call tools
    if isinstance(content, str):
        conversation.text_fields.append(TextField(param, content))
        return content
    if not isinstance(content, list):
        raise MalformedExampleError("content must be a string or a list of parts", param)
    texts: list[str] = []
    for index, part in enumerate(content):
        part_param = f"{param}[{index}]"
        if isinstance(part, Mapping) and part.get("type") == "text":
            text = str(part.get("text", ""))
            conversation.text_fields.append(TextField(f"{part_param}.text", text))
            texts.append(text)
        else:
            conversation.skipped_parts.append(part_param)
    return "\n".join(texts)


def _tool_calls(
    calls: object, param: str, conversation: TemplateConversation
) -> list[dict[str, Any]]:
    if not isinstance(calls, list):
        raise MalformedExampleError("tool_calls must be a list", f"{param}.tool_calls")
    converted: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        call_param = f"{param}.tool_calls[{index}]"
        if not isinstance(call, Mapping) or not isinstance(call.get("function"), Mapping):
            raise MalformedExampleError("each tool call needs a function object", call_param)
        function = dict(call["function"])
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            conversation.text_fields.append(
                TextField(f"{call_param}.function.arguments", arguments)
            )
            function["arguments"] = _json_object_or_text(arguments)
        out: dict[str, Any] = {"type": call.get("type", "function"), "function": function}
        if call.get("id") is not None:
            out["id"] = call["id"]
        converted.append(out)
    return converted


def _json_object_or_text(arguments: str) -> Any:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return arguments
    return parsed if isinstance(parsed, dict) else arguments
