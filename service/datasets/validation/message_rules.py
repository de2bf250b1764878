"""Precise rules for chat messages, shared by chat examples and preference inputs.

Each rule names the JSON path of the field it rejects and says how to fix it. These rules are
the source of truth; the fast path (:mod:`service.datasets.validation.fast_path`) only
short-cuts lines they accept.
"""

from __future__ import annotations

from typing import Any

from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.line_schemas import (
    ALL_MESSAGE_KEYS,
    IMAGE_DETAILS,
    IMAGE_URL_PATTERN,
    MESSAGE_KEYS_BY_ROLE,
    ROLES,
    ImagePart,
    ImageUrl,
    TextPart,
    struct_keys,
)
from service.datasets.validation.problems import LineFindings, ProblemCode, WarningCode
from service.datasets.validation.rule_helpers import check_keys, show
from service.datasets.validation.tool_rules import check_function_call, check_tool_call

_ROLE_LIST = ", ".join(ROLES)
_TEXT_PART_KEYS = struct_keys(TextPart)
_IMAGE_PART_KEYS = struct_keys(ImagePart)
_IMAGE_URL_KEYS = struct_keys(ImageUrl)
# Roles whose content may be an empty string: a tool or function can return nothing.
_EMPTY_CONTENT_ROLES = frozenset({"tool", "function"})


def check_messages(
    container: dict[str, Any], path: str, limits: ValidationLimits, findings: LineFindings
) -> list[str | None] | None:
    """Check ``container["messages"]``; return each message's role (None if unknown), or None."""
    messages = container.get("messages")
    if not isinstance(messages, list) or not messages:
        if "messages" not in container:
            why = "is missing"
        elif isinstance(messages, list):
            why = "is empty"
        else:
            why = f"must be a list, got {show(messages)}"
        findings.problem(
            ProblemCode.MISSING_MESSAGES,
            path,
            f"{path} {why}; give a list of messages such as "
            '[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]',
        )
        return None
    if len(messages) > limits.max_messages_per_example:
        findings.problem(
            ProblemCode.TOO_MANY_MESSAGES,
            path,
            f"{len(messages)} messages; an example may hold at most "
            f"{limits.max_messages_per_example}, split long conversations",
        )
    return [
        check_message(message, f"{path}[{i}]", limits.max_json_depth, findings)
        for i, message in enumerate(messages)
    ]


def check_message(
    message: Any, path: str, max_json_depth: int, findings: LineFindings
) -> str | None:
    """Check one message; return its role when the role is known."""
    if not isinstance(message, dict):
        findings.problem(
            ProblemCode.INVALID_MESSAGE,
            path,
            f'each message must be an object like {{"role": "user", "content": "..."}}, '
            f"got {show(message)}",
        )
        return None
    role = message.get("role")
    if "role" not in message:
        findings.problem(
            ProblemCode.MISSING_ROLE, f"{path}.role", f"add a role, one of {_ROLE_LIST}"
        )
        return None
    if not isinstance(role, str) or role not in MESSAGE_KEYS_BY_ROLE:
        findings.problem(
            ProblemCode.UNRECOGNIZED_ROLE,
            f"{path}.role",
            f"role {show(role)} is not one of {_ROLE_LIST}",
        )
        return None
    _check_message_keys(message, role, path, findings)
    _check_name(message, role, path, findings)
    _check_content(message, role, path, findings)
    if role == "assistant":
        _check_assistant_fields(message, path, max_json_depth, findings)
    elif role == "tool":
        tool_call_id = message.get("tool_call_id")
        if not isinstance(tool_call_id, str) or not tool_call_id:
            findings.problem(
                ProblemCode.MISSING_TOOL_CALL_ID,
                f"{path}.tool_call_id",
                "a tool message needs the tool_call_id (a non-empty string) of the assistant "
                "tool call it answers",
            )
    return role


def _check_message_keys(
    message: dict[str, Any], role: str, path: str, findings: LineFindings
) -> None:
    allowed = MESSAGE_KEYS_BY_ROLE[role]
    for key in message:
        if key in allowed:
            continue
        if key == "weight":
            findings.warning(
                WarningCode.IGNORED_WEIGHT,
                f"{path}.weight",
                f"weight only applies to assistant messages; it is ignored on a {role} message",
            )
        elif key in ALL_MESSAGE_KEYS:
            findings.problem(
                ProblemCode.UNRECOGNIZED_KEY,
                f"{path}.{key}",
                f"{key} is not allowed on a {role} message",
            )
        else:
            findings.problem(
                ProblemCode.UNRECOGNIZED_KEY,
                f"{path}.{key}",
                f"unknown key {show(key)}; a {role} message takes {', '.join(sorted(allowed))}",
            )


def _check_name(message: dict[str, Any], role: str, path: str, findings: LineFindings) -> None:
    name = message.get("name")
    if role == "function":
        if not isinstance(name, str) or not name:
            findings.problem(
                ProblemCode.MISSING_NAME,
                f"{path}.name",
                "a function message needs the name of the function it answers",
            )
    elif name is not None and not isinstance(name, str):
        findings.problem(
            ProblemCode.INVALID_TYPE, f"{path}.name", f"name must be a string, got {show(name)}"
        )


def _has_call(message: dict[str, Any]) -> bool:
    calls = message.get("tool_calls")
    return (isinstance(calls, list) and bool(calls)) or message.get("function_call") is not None


def _check_content(message: dict[str, Any], role: str, path: str, findings: LineFindings) -> None:
    content = message.get("content")
    empty = content is None or content == [] or content == ""
    if content == "" and role in _EMPTY_CONTENT_ROLES:
        empty = False
    if empty:
        if role == "assistant" and _has_call(message):
            return
        needs = " (or tool_calls)" if role == "assistant" else ""
        findings.problem(
            ProblemCode.MISSING_CONTENT,
            f"{path}.content",
            f"a {role} message needs non-empty content{needs}: a string or a list of parts",
        )
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list) or role == "function":
        findings.problem(
            ProblemCode.INVALID_CONTENT,
            f"{path}.content",
            f"content must be a string or a list of content parts, got {show(content)}",
        )
        return
    for j, part in enumerate(content):
        _check_part(part, role, f"{path}.content[{j}]", findings)


def _check_part(part: Any, role: str, path: str, findings: LineFindings) -> None:
    part_type = part.get("type") if isinstance(part, dict) else None
    if not isinstance(part, dict) or part_type not in ("text", "image_url"):
        findings.problem(
            ProblemCode.INVALID_CONTENT,
            path,
            'a content part must be {"type": "text", "text": "..."} or, in user messages, '
            '{"type": "image_url", "image_url": {"url": "..."}}; '
            f"audio and file parts are not supported, got {show(part)}",
        )
        return
    if part_type == "text":
        check_keys(part, _TEXT_PART_KEYS, path, findings)
        if not isinstance(part.get("text"), str):
            findings.problem(
                ProblemCode.INVALID_CONTENT, f"{path}.text", "a text part needs a string text"
            )
        return
    if role != "user":
        findings.problem(
            ProblemCode.IMAGE_NOT_ALLOWED,
            path,
            f"images are only allowed in user messages, not in a {role} message",
        )
        return
    check_keys(part, _IMAGE_PART_KEYS, path, findings)
    image_url = part.get("image_url")
    if not isinstance(image_url, dict):
        findings.problem(
            ProblemCode.INVALID_CONTENT,
            f"{path}.image_url",
            'image_url must be an object like {"url": "https://..."}',
        )
        return
    check_keys(image_url, _IMAGE_URL_KEYS, f"{path}.image_url", findings)
    url = image_url.get("url")
    if not isinstance(url, str) or not IMAGE_URL_PATTERN.search(url):
        findings.problem(
            ProblemCode.INVALID_CONTENT,
            f"{path}.image_url.url",
            f"url must be an http(s) URL or a data:image/ URL, got {show(url)}",
        )
    if "detail" in image_url and image_url["detail"] not in IMAGE_DETAILS:
        findings.problem(
            ProblemCode.INVALID_CONTENT,
            f"{path}.image_url.detail",
            f"detail must be one of {', '.join(IMAGE_DETAILS)}, got {show(image_url['detail'])}",
        )


def _check_assistant_fields(
    message: dict[str, Any], path: str, max_json_depth: int, findings: LineFindings
) -> None:
    if "weight" in message:
        weight = message["weight"]
        # bool is an int in Python but not in JSON; 1.0 and 0.5 are not weights either.
        if type(weight) is not int or weight not in (0, 1):
            findings.problem(
                ProblemCode.INVALID_WEIGHT,
                f"{path}.weight",
                f"weight must be the integer 0 (do not train on this turn) or 1, "
                f"got {show(weight)}",
            )
    calls = message.get("tool_calls")
    if calls is not None:
        if isinstance(calls, list):
            for k, call in enumerate(calls):
                check_tool_call(call, f"{path}.tool_calls[{k}]", max_json_depth, findings)
        else:
            findings.problem(
                ProblemCode.INVALID_TOOL_CALLS,
                f"{path}.tool_calls",
                f"tool_calls must be a list of tool calls, got {show(calls)}",
            )
    if message.get("function_call") is not None:
        check_function_call(
            message["function_call"], f"{path}.function_call", max_json_depth, findings
        )
    refusal = message.get("refusal")
    if refusal is not None and not isinstance(refusal, str):
        findings.problem(
            ProblemCode.INVALID_TYPE,
            f"{path}.refusal",
            f"refusal must be a string, got {show(refusal)}",
        )
