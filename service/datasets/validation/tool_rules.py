"""Precise rules for tools: the ``tools`` a model may call and an assistant's calls of them.

Part of the source of truth, with :mod:`service.datasets.validation.message_rules`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from service.datasets.validation.json_depth import exceeds_depth
from service.datasets.validation.line_schemas import (
    MAX_LEGACY_FUNCTIONS,
    FunctionCall,
    FunctionDefinition,
    FunctionTool,
    ToolCall,
    struct_keys,
)
from service.datasets.validation.problems import LineFindings, ProblemCode
from service.datasets.validation.rule_helpers import check_keys, show

_TOOL_CALL_KEYS = struct_keys(ToolCall)
_FUNCTION_CALL_KEYS = struct_keys(FunctionCall)
_TOOL_KEYS = struct_keys(FunctionTool)
_FUNCTION_DEFINITION_KEYS = struct_keys(FunctionDefinition)


def arguments_too_deep(text: str, max_depth: int) -> bool:
    """True when tool-call ``arguments`` nest deeper than ``max_depth``.

    The line's depth limit cannot see inside this string, and a valid object nested near
    Python's recursion limit would pass the validator yet overflow the chat template's
    ``tojson`` when the example is tokenized.
    """
    # Counting brackets settles almost every call without encoding the text.
    if text.count("{") + text.count("[") <= max_depth:
        return False
    return exceeds_depth(text.encode("utf-8", "surrogatepass"), max_depth)


def is_json_object_text(text: str) -> bool:
    """True when ``text`` is a JSON object, as tool-call ``arguments`` must be."""
    try:
        return isinstance(msgspec.json.decode(text), dict)
    except (msgspec.DecodeError, RecursionError, UnicodeError):
        return False


def check_tool_call(call: Any, path: str, max_depth: int, findings: LineFindings) -> None:
    """Check one entry of an assistant message's ``tool_calls``; ``max_depth`` bounds its
    ``arguments``' nesting."""
    if not isinstance(call, dict):
        findings.problem(
            ProblemCode.INVALID_TOOL_CALLS,
            path,
            'a tool call must be {"id": "...", "type": "function", '
            '"function": {"name": "...", "arguments": "{...}"}}',
        )
        return
    check_keys(call, _TOOL_CALL_KEYS, path, findings)
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        findings.problem(
            ProblemCode.INVALID_TOOL_CALLS, f"{path}.id", "a tool call needs a non-empty string id"
        )
    if "type" in call and call["type"] != "function":
        findings.problem(
            ProblemCode.INVALID_TOOL_CALLS,
            f"{path}.type",
            f'type must be "function", got {show(call["type"])}',
        )
    check_function_call(call.get("function"), f"{path}.function", max_depth, findings)


def check_function_call(
    function_call: Any, path: str, max_depth: int, findings: LineFindings
) -> None:
    """Check a call's ``{"name", "arguments"}``; arguments must be a JSON object as text,
    nested at most ``max_depth`` levels."""
    if not isinstance(function_call, dict):
        findings.problem(
            ProblemCode.INVALID_TOOL_CALLS,
            path,
            'give {"name": "...", "arguments": "{...}"} (arguments is a JSON object as a string)',
        )
        return
    check_keys(function_call, _FUNCTION_CALL_KEYS, path, findings)
    name = function_call.get("name")
    if not isinstance(name, str) or not name:
        findings.problem(
            ProblemCode.INVALID_TOOL_CALLS, f"{path}.name", "the called function needs a name"
        )
    arguments = function_call.get("arguments")
    if isinstance(arguments, str) and arguments_too_deep(arguments, max_depth):
        findings.problem(
            ProblemCode.TOO_DEEP,
            f"{path}.arguments",
            f"arguments nest more than {max_depth} levels deep; flatten them",
        )
    elif not isinstance(arguments, str) or not is_json_object_text(arguments):
        findings.problem(
            ProblemCode.INVALID_TOOL_CALLS,
            f"{path}.arguments",
            "arguments must be a JSON object encoded as a string, "
            'e.g. "{\\"city\\": \\"Paris\\"}", '
            f"got {show(arguments)}",
        )


def check_tools(
    container: dict[str, Any], prefix: str, findings: LineFindings, *, legacy_functions: bool
) -> None:
    """Check ``tools``, ``parallel_tool_calls`` and (chat only) the legacy ``functions``."""
    tools = container.get("tools")
    if tools is not None:
        if isinstance(tools, list):
            for i, tool in enumerate(tools):
                _check_tool(tool, f"{prefix}tools[{i}]", findings)
        else:
            findings.problem(
                ProblemCode.INVALID_TOOLS,
                f"{prefix}tools",
                f"tools must be a list of function tools, got {show(tools)}",
            )
    parallel = container.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        findings.problem(
            ProblemCode.INVALID_TYPE,
            f"{prefix}parallel_tool_calls",
            f"parallel_tool_calls must be true or false, got {show(parallel)}",
        )
    functions = container.get("functions")
    if not legacy_functions or functions is None:
        return
    if not isinstance(functions, list) or not 1 <= len(functions) <= MAX_LEGACY_FUNCTIONS:
        findings.problem(
            ProblemCode.INVALID_TOOLS,
            f"{prefix}functions",
            f"functions (deprecated, prefer tools) must be a list of 1 to {MAX_LEGACY_FUNCTIONS} "
            "function definitions",
        )
        return
    for i, function in enumerate(functions):
        _check_function_definition(function, f"{prefix}functions[{i}]", findings)


def _check_tool(tool: Any, path: str, findings: LineFindings) -> None:
    if not isinstance(tool, dict):
        findings.problem(
            ProblemCode.INVALID_TOOLS,
            path,
            'a tool must be {"type": "function", "function": {"name": "...", "parameters": {...}}}',
        )
        return
    check_keys(tool, _TOOL_KEYS, path, findings)
    if tool.get("type") != "function":
        findings.problem(
            ProblemCode.INVALID_TOOLS,
            f"{path}.type",
            f'type must be "function", got {show(tool.get("type"))}',
        )
    _check_function_definition(tool.get("function"), f"{path}.function", findings)


def _check_function_definition(function: Any, path: str, findings: LineFindings) -> None:
    if not isinstance(function, dict):
        findings.problem(
            ProblemCode.INVALID_TOOLS,
            path,
            'give a function definition {"name": "...", "description": "...", "parameters": {...}}',
        )
        return
    check_keys(function, _FUNCTION_DEFINITION_KEYS, path, findings)
    name = function.get("name")
    if not isinstance(name, str) or not name:
        findings.problem(ProblemCode.INVALID_TOOLS, f"{path}.name", "a function needs a name")
    expected_types = (
        ("description", str, "a string"),
        ("parameters", dict, "a JSON schema object"),
        ("strict", bool, "true or false"),
    )
    for key, kind, what in expected_types:
        value = function.get(key)
        if value is not None and not isinstance(value, kind):
            findings.problem(
                ProblemCode.INVALID_TOOLS,
                f"{path}.{key}",
                f"{key} must be {what}, got {show(value)}",
            )
