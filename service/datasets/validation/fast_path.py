"""The fast path: decode and type-check a line in C with msgspec, then a few checks in Python.

It answers only "this line is a clean example of the file's format" (no problem, no warning)
or "not sure"; every "not sure" line goes to the precise rules
(:mod:`service.datasets.validation.line_rules`), which find out what is wrong. So the fast path
may be stricter than the rules (that only costs time) but never more lenient. Its Python checks
mirror the rules the types cannot express.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from service.datasets.validation.formats import DatasetFormat
from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.line_schemas import (
    SCHEMA_BY_FORMAT,
    AssistantMessage,
    ChatExample,
    FunctionDefinition,
    FunctionTool,
    Message,
    OutputMessage,
    PreferenceExample,
    UserMessage,
)
from service.datasets.validation.tool_rules import arguments_too_deep, is_json_object_text

_HAS_USER = 1
_TRAINED = 2
# How deep a tool's ``parameters`` object sits in a line: example, tools, tool, function.
_TOOLS_PARAMETERS_LEVEL = 4
# ... and the legacy ``functions``' parameters: example, functions, function.
_FUNCTIONS_PARAMETERS_LEVEL = 3
# A preference example's tools sit one level lower, under ``input``.
_INPUT_LEVEL = 1
# Besides DecodeError, msgspec raises these for invalid UTF-8 and for very deep nesting.
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


class FastPath:
    """Accepts clean lines of one format; a rejected line must go through the rules.

    ``accepts(line)`` is True when the line is a valid example without warnings, False when
    unsure. It is one function per format (decode and checks together) because it runs once
    per line of a file and every call costs.
    """

    def __init__(self, fmt: DatasetFormat, limits: ValidationLimits) -> None:
        # Returns the struct of ``fmt``; each acceptor below knows which one it gets.
        self._decode: Callable[[bytes], Any] = msgspec.json.Decoder(SCHEMA_BY_FORMAT[fmt]).decode
        self._limits = limits
        acceptors: dict[DatasetFormat, Callable[[bytes], bool]] = {
            DatasetFormat.CHAT: self._accepts_chat,
            DatasetFormat.PREFERENCE: self._accepts_preference,
            DatasetFormat.COMPLETION: self._accepts_completion,
        }
        self.accepts = acceptors[fmt]

    def _accepts_chat(self, line: bytes) -> bool:
        try:
            example: ChatExample = self._decode(line)
        except _DECODE_ERRORS:
            return False
        if self._message_flags(example.messages) != _HAS_USER | _TRAINED:
            return False
        # Only tool parameters can nest deeper than the schema; most lines have no tools.
        return not (example.tools or example.functions) or self._depth_ok(
            line, example.tools, example.functions, 0
        )

    def _accepts_preference(self, line: bytes) -> bool:
        try:
            example: PreferenceExample = self._decode(line)
        except _DECODE_ERRORS:
            return False
        prompt = example.input
        preferred = _one_of(example.preferred_output, example.preferred_completion)
        non_preferred = _one_of(example.non_preferred_output, example.non_preferred_completion)
        if preferred is None or non_preferred is None:
            return False
        flags = self._message_flags(prompt.messages)
        return (
            flags is not None
            and flags & _HAS_USER != 0
            and type(prompt.messages[-1]) is not AssistantMessage
            and preferred[0].content != non_preferred[0].content
            and (not prompt.tools or self._depth_ok(line, prompt.tools, None, _INPUT_LEVEL))
        )

    def _accepts_completion(self, line: bytes) -> bool:
        try:
            self._decode(line)
        except _DECODE_ERRORS:
            return False
        return True  # the schema says it all: two strings, the completion not empty

    def _message_flags(self, messages: Sequence[Message]) -> int | None:
        """_HAS_USER / _TRAINED bits of a message list, or None when a rule fails."""
        if len(messages) > self._limits.max_messages_per_example:
            return None
        flags = 0
        for message in messages:
            # ``type() is`` rather than isinstance: this loop runs for every message of a file.
            if type(message) is AssistantMessage:
                if message.tool_calls or message.function_call is not None:
                    if not _call_arguments_ok(message, self._limits.max_json_depth):
                        return None
                elif not message.content:
                    return None
                if message.weight:
                    flags |= _TRAINED
            elif type(message) is UserMessage:
                flags |= _HAS_USER
        return flags

    def _depth_ok(
        self,
        line: bytes,
        tools: list[FunctionTool] | None,
        functions: list[FunctionDefinition] | None,
        level: int,
    ) -> bool:
        """The schemas bound the depth of a line except inside tool parameters: check those."""
        limit = self._limits.max_json_depth
        if line.count(b"{") + line.count(b"[") <= limit:
            return True
        depths = [
            _TOOLS_PARAMETERS_LEVEL + level + nesting_depth(tool.function.parameters)
            for tool in tools or ()
        ]
        depths += [
            _FUNCTIONS_PARAMETERS_LEVEL + level + nesting_depth(function.parameters)
            for function in functions or ()
        ]
        return max(depths) <= limit


def _one_of(
    canonical: list[OutputMessage] | msgspec.UnsetType,
    alias: list[OutputMessage] | msgspec.UnsetType,
) -> list[OutputMessage] | None:
    """The output given under exactly one of its two spellings, else None."""
    if isinstance(canonical, msgspec.UnsetType):
        return None if isinstance(alias, msgspec.UnsetType) else alias
    return canonical if isinstance(alias, msgspec.UnsetType) else None


def _call_arguments_ok(message: AssistantMessage, max_depth: int) -> bool:
    calls = [call.function for call in message.tool_calls or ()]
    if message.function_call is not None:
        calls.append(message.function_call)
    return all(
        not arguments_too_deep(call.arguments, max_depth) and is_json_object_text(call.arguments)
        for call in calls
    )


def nesting_depth(value: Any) -> int:
    """Container nesting of a decoded JSON value (0 for a scalar, 1 for ``{}``), iteratively."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest
