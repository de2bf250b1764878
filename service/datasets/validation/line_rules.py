"""Precise rules for one line: its bytes, its JSON, and the example of each format it holds.

This is the slow path and the source of truth: it finds every problem of a line with its JSON
path and a message saying how to fix it. The validator runs it on the first lines of a file
and on every line the fast path does not accept.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from service.datasets.validation.formats import NON_PREFERRED_KEYS, PREFERRED_KEYS, DatasetFormat
from service.datasets.validation.json_depth import exceeds_depth
from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.line_schemas import (
    ChatExample,
    CompletionExample,
    OutputMessage,
    PreferenceExample,
    PreferenceInput,
    struct_keys,
)
from service.datasets.validation.message_rules import check_messages
from service.datasets.validation.problems import LineFindings, ProblemCode, WarningCode
from service.datasets.validation.rule_helpers import show
from service.datasets.validation.tool_rules import check_tools

JSON_WHITESPACE = b" \t\r\n"
_CHAT_KEYS = struct_keys(ChatExample)
_PREFERENCE_KEYS = struct_keys(PreferenceExample)
_PREFERENCE_INPUT_KEYS = struct_keys(PreferenceInput)
_OUTPUT_MESSAGE_KEYS = struct_keys(OutputMessage)
_COMPLETION_KEYS = struct_keys(CompletionExample)


def parse_line(
    line: bytes, limits: ValidationLimits, findings: LineFindings
) -> dict[str, Any] | None:
    """Decode one non-blank line to a JSON object, or record why it is not one."""
    nul_at = line.find(b"\x00")
    if nul_at >= 0:
        findings.problem(
            ProblemCode.NUL_CHARACTER,
            None,
            f"NUL byte at byte {nul_at + 1}; remove it (a text file never needs NUL characters)",
        )
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        findings.problem(
            ProblemCode.INVALID_UTF8,
            None,
            f"invalid UTF-8 at byte {error.start + 1} ({error.reason}); save the file as UTF-8",
        )
        return None
    if exceeds_depth(line, limits.max_json_depth):
        findings.problem(
            ProblemCode.TOO_DEEP,
            None,
            f"JSON nested more than {limits.max_json_depth} levels deep; flatten the data",
        )
        return None
    try:
        value = msgspec.json.decode(line)
    except (msgspec.DecodeError, RecursionError):
        findings.problem(ProblemCode.INVALID_JSON, None, _explain_invalid_json(text))
        return None
    if not isinstance(value, dict):
        findings.problem(
            ProblemCode.NOT_AN_OBJECT,
            None,
            f"each line must be one JSON object {{...}}, got {show(value)}",
        )
        return None
    return value


def _explain_invalid_json(text: str) -> str:
    """A message for a line msgspec rejects, positioned by the stdlib parser's diagnosis."""
    if text.startswith("\ufeff"):
        return "the file starts with a byte-order mark (BOM); save it as UTF-8 without BOM"
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return (
            f"not valid JSON ({error.msg} at column {error.colno}); each line must hold one "
            "complete JSON object (pretty-printed JSON spanning lines is not JSONL)"
        )
    except RecursionError:
        return "not valid JSON (nested too deeply)"
    except ValueError:
        # The stdlib refuses integers of more than sys.get_int_max_str_digits() digits with a
        # plain ValueError; msgspec refused the same number as out of range.
        return (
            "not valid JSON: a number has too many digits to be read; write it as a string "
            "or with fewer digits"
        )
    return (
        "not valid JSON: it uses NaN/Infinity, a number out of range or an unpaired surrogate "
        "escape such as \\ud800, which strict JSON parsers reject"
    )


def check_example(
    example: dict[str, Any], fmt: DatasetFormat, limits: ValidationLimits, findings: LineFindings
) -> None:
    """Run every rule of ``fmt`` on one decoded example."""
    if fmt is DatasetFormat.CHAT:
        _check_chat(example, limits, findings)
    elif fmt is DatasetFormat.PREFERENCE:
        _check_preference(example, limits, findings)
    else:
        _check_completion(example, findings)


def _check_chat(example: dict[str, Any], limits: ValidationLimits, findings: LineFindings) -> None:
    roles = check_messages(example, "messages", limits, findings)
    if roles is not None:
        assistants = [
            m for m, role in zip(example["messages"], roles, strict=True) if role == "assistant"
        ]
        if not assistants:
            findings.problem(
                ProblemCode.MISSING_ASSISTANT_MESSAGE,
                "messages",
                "no assistant message: add the assistant reply the model should learn",
            )
        elif all(_weight_is_zero(message) for message in assistants):
            findings.problem(
                ProblemCode.NO_TRAINED_TOKENS,
                "messages",
                "every assistant message has weight 0, so nothing would be trained; "
                "set weight 1 (or leave weight out) on at least one",
            )
        if "user" not in roles and None not in roles:
            findings.warning(WarningCode.NO_USER_MESSAGE, "messages", "no user message")
    check_tools(example, "", findings, legacy_functions=True)
    _warn_ignored_keys(example, _CHAT_KEYS, "", findings)


def _weight_is_zero(message: dict[str, Any]) -> bool:
    weight = message.get("weight", 1)
    return type(weight) is int and weight == 0


def _check_preference(
    example: dict[str, Any], limits: ValidationLimits, findings: LineFindings
) -> None:
    prompt = example.get("input")
    if isinstance(prompt, dict):
        roles = check_messages(prompt, "input.messages", limits, findings)
        if roles is not None:
            if roles[-1] == "assistant":
                findings.problem(
                    ProblemCode.INVALID_INPUT,
                    f"input.messages[{len(roles) - 1}]",
                    "input.messages must end with the turn the outputs answer (usually a user "
                    "message), not an assistant message",
                )
            if "user" not in roles and None not in roles:
                findings.warning(WarningCode.NO_USER_MESSAGE, "input.messages", "no user message")
        check_tools(prompt, "input.", findings, legacy_functions=False)
        _warn_ignored_keys(prompt, _PREFERENCE_INPUT_KEYS, "input.", findings)
    else:
        why = "is missing" if "input" not in example else f"must be an object, got {show(prompt)}"
        findings.problem(
            ProblemCode.MISSING_INPUT,
            "input",
            f'input {why}; give {{"messages": [{{"role": "user", "content": "..."}}]}}',
        )
    answers = [
        _check_output_pair(example, keys, findings) for keys in (PREFERRED_KEYS, NON_PREFERRED_KEYS)
    ]
    if answers[0] is not None and answers[0] == answers[1]:
        findings.warning(
            WarningCode.IDENTICAL_OUTPUTS,
            None,
            "the preferred and non-preferred outputs are identical; this example teaches nothing",
        )
    _warn_ignored_keys(example, _PREFERENCE_KEYS, "", findings)


def _check_output_pair(
    example: dict[str, Any], keys: tuple[str, str], findings: LineFindings
) -> str | None:
    """Check one of the two outputs (under either spelling); return its text when valid."""
    present = [key for key in keys if key in example]
    if not present:
        findings.problem(
            ProblemCode.MISSING_OUTPUT,
            keys[0],
            f'{keys[0]} is missing; give [{{"role": "assistant", "content": "..."}}]',
        )
        return None
    if len(present) > 1:
        findings.problem(
            ProblemCode.INVALID_OUTPUT,
            keys[1],
            f"give either {keys[0]} or its alias {keys[1]}, not both",
        )
        return None
    key = present[0]
    output = example[key]
    if not isinstance(output, list) or len(output) != 1:
        got = f"{len(output)} items" if isinstance(output, list) else show(output)
        findings.problem(
            ProblemCode.INVALID_OUTPUT,
            key,
            f"{key} must be a list of exactly one assistant message, got {got}",
        )
        return None
    return _check_output_message(output[0], f"{key}[0]", findings)


def _check_output_message(message: Any, path: str, findings: LineFindings) -> str | None:
    if not isinstance(message, dict):
        findings.problem(
            ProblemCode.INVALID_OUTPUT,
            path,
            f'give {{"role": "assistant", "content": "..."}}, got {show(message)}',
        )
        return None
    n_problems = len(findings.problems)
    if "role" not in message:
        findings.problem(ProblemCode.MISSING_ROLE, f"{path}.role", 'add "role": "assistant"')
    elif message["role"] != "assistant":
        findings.problem(
            ProblemCode.UNRECOGNIZED_ROLE,
            f"{path}.role",
            f'an output message has role "assistant", got {show(message["role"])}',
        )
    for key in message:
        if key not in _OUTPUT_MESSAGE_KEYS:
            findings.problem(
                ProblemCode.UNRECOGNIZED_KEY,
                f"{path}.{key}",
                f"unknown key {show(key)}; an output message takes only role and content",
            )
    content = message.get("content")
    if content is None or content == "":
        findings.problem(
            ProblemCode.MISSING_CONTENT, f"{path}.content", "an output needs non-empty text content"
        )
    elif not isinstance(content, str):
        findings.problem(
            ProblemCode.INVALID_CONTENT,
            f"{path}.content",
            f"preference outputs are text only: content must be a string, got {show(content)}",
        )
    return content if len(findings.problems) == n_problems and isinstance(content, str) else None


def _check_completion(example: dict[str, Any], findings: LineFindings) -> None:
    prompt = example.get("prompt")
    if prompt is None:
        findings.problem(
            ProblemCode.MISSING_PROMPT, "prompt", 'add "prompt": the text the completion follows'
        )
    elif not isinstance(prompt, str):
        findings.problem(
            ProblemCode.INVALID_TYPE, "prompt", f"prompt must be a string, got {show(prompt)}"
        )
    completion = example.get("completion")
    if completion is None or completion == "":
        findings.problem(
            ProblemCode.MISSING_COMPLETION,
            "completion",
            'add a non-empty "completion": the text the model should learn to write',
        )
    elif not isinstance(completion, str):
        findings.problem(
            ProblemCode.INVALID_TYPE,
            "completion",
            f"completion must be a string, got {show(completion)}",
        )
    _warn_ignored_keys(example, _COMPLETION_KEYS, "", findings)


def _warn_ignored_keys(
    value: dict[str, Any], known: frozenset[str], prefix: str, findings: LineFindings
) -> None:
    for key in value:
        if key not in known:
            findings.warning(
                WarningCode.IGNORED_KEY,
                f"{prefix}{key}",
                f"unknown key {show(key)} is ignored; known keys: {', '.join(sorted(known))}",
            )
