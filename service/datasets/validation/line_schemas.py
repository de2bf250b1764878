"""msgspec schemas of the three formats, decoded and type-checked in C by the fast path.

These structs are also where the rules (:mod:`service.datasets.validation.line_rules`) read
the allowed roles and the allowed keys of each message, so a key is added in one place. The
rules stay the source of truth for everything else: the fast path only ever accepts a line
that the rules accept without a problem or warning
(tests/unit/datasets/test_validation_properties.py checks that both agree).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, UnsetType

from service.datasets.validation.formats import DatasetFormat

# OpenAI takes image inputs as HTTP(S) URLs or base64 data URLs.
IMAGE_URL_PATTERN = re.compile(r"^(?:https?://|data:image/)")
IMAGE_DETAILS = ("low", "high", "auto")
MAX_LEGACY_FUNCTIONS = 128

NonEmptyStr = Annotated[str, Meta(min_length=1)]


class _Strict(Struct, forbid_unknown_fields=True, kw_only=True):
    """Base: unknown keys fail the fast path, so the rules can name them."""


class TextOnlyPart(_Strict):
    """A text part where only text is allowed; untagged, as msgspec checks tags only in unions."""

    type: Literal["text"]
    text: str


class TextPart(_Strict, tag_field="type", tag="text"):
    """A text part of a user message."""

    text: str


class ImageUrl(_Strict):
    """Where an image input lives."""

    url: Annotated[str, Meta(pattern=IMAGE_URL_PATTERN.pattern)]
    detail: Literal["low", "high", "auto"] = "auto"


class ImagePart(_Strict, tag_field="type", tag="image_url"):
    """An image part of a user message."""

    image_url: ImageUrl


TextParts = Annotated[list[TextOnlyPart], Meta(min_length=1)]
UserParts = Annotated[list[TextPart | ImagePart], Meta(min_length=1)]


class _Message(_Strict, tag_field="role"):
    """Base of the message structs: the role is the tag that picks one."""


class SystemMessage(_Message, tag="system"):
    """System prompt."""

    content: NonEmptyStr | TextParts
    name: str | None = None


class DeveloperMessage(_Message, tag="developer"):
    """Developer prompt (the newer name of the system role)."""

    content: NonEmptyStr | TextParts
    name: str | None = None


class UserMessage(_Message, tag="user"):
    """A user turn; the only one that may hold images."""

    content: NonEmptyStr | UserParts
    name: str | None = None


class FunctionCall(_Strict):
    """A call of a function: ``arguments`` is JSON text (checked by the rules, not the type)."""

    name: NonEmptyStr
    arguments: str


class ToolCall(_Strict):
    """One entry of an assistant's ``tool_calls``."""

    id: NonEmptyStr
    function: FunctionCall
    type: Literal["function"] = "function"


class AssistantMessage(_Message, tag="assistant"):
    """An assistant turn: trained on unless ``weight`` is 0."""

    content: str | list[TextOnlyPart] | None = None
    name: str | None = None
    weight: Literal[0, 1] = 1
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    refusal: str | None = None


class ToolMessage(_Message, tag="tool"):
    """The result of a tool call; an empty result is allowed."""

    content: str | TextParts
    tool_call_id: NonEmptyStr
    name: str | None = None


class FunctionMessage(_Message, tag="function"):
    """The result of a legacy function call."""

    name: NonEmptyStr
    content: str


Message = (
    SystemMessage
    | DeveloperMessage
    | UserMessage
    | AssistantMessage
    | ToolMessage
    | FunctionMessage
)
MESSAGE_TYPES: tuple[type[_Message], ...] = (
    SystemMessage,
    DeveloperMessage,
    UserMessage,
    AssistantMessage,
    ToolMessage,
    FunctionMessage,
)
Messages = Annotated[list[Message], Meta(min_length=1)]


class FunctionDefinition(_Strict):
    """A function the model may call; ``parameters`` is a JSON schema."""

    name: NonEmptyStr
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(_Strict):
    """One entry of ``tools``."""

    type: Literal["function"]
    function: FunctionDefinition


class ChatExample(_Strict):
    """One line of a chat (supervised) file."""

    messages: Messages
    tools: list[FunctionTool] | None = None
    parallel_tool_calls: bool | None = None
    functions: (
        Annotated[list[FunctionDefinition], Meta(min_length=1, max_length=MAX_LEGACY_FUNCTIONS)]
        | None
    ) = None


class PreferenceInput(_Strict):
    """The shared prompt of a preference example."""

    messages: Messages
    tools: list[FunctionTool] | None = None
    parallel_tool_calls: bool | None = None


class OutputMessage(_Strict):
    """A preferred or non-preferred answer: one text-only assistant message."""

    role: Literal["assistant"]
    content: NonEmptyStr


OneOutput = Annotated[list[OutputMessage], Meta(min_length=1, max_length=1)]


class PreferenceExample(_Strict):
    """One line of a preference (DPO) file; exactly one key of each output pair is set."""

    input: PreferenceInput
    preferred_output: OneOutput | UnsetType = msgspec.UNSET
    non_preferred_output: OneOutput | UnsetType = msgspec.UNSET
    preferred_completion: OneOutput | UnsetType = msgspec.UNSET
    non_preferred_completion: OneOutput | UnsetType = msgspec.UNSET


class CompletionExample(_Strict):
    """One line of a legacy prompt/completion file."""

    prompt: str
    completion: NonEmptyStr


SCHEMA_BY_FORMAT: dict[DatasetFormat, type[Struct]] = {
    DatasetFormat.CHAT: ChatExample,
    DatasetFormat.PREFERENCE: PreferenceExample,
    DatasetFormat.COMPLETION: CompletionExample,
}


def struct_keys(schema: type[Struct]) -> frozenset[str]:
    """The JSON keys a struct accepts, its tag field included."""
    keys = {field.encode_name for field in msgspec.structs.fields(schema)}
    tag_field = schema.__struct_config__.tag_field
    if tag_field is not None:
        keys.add(tag_field)
    return frozenset(keys)


def _role_of(schema: type[_Message]) -> str:
    tag = schema.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{schema.__name__} must set its role as a str tag")
    return tag


ROLES: tuple[str, ...] = tuple(_role_of(schema) for schema in MESSAGE_TYPES)
MESSAGE_KEYS_BY_ROLE: dict[str, frozenset[str]] = {
    _role_of(schema): struct_keys(schema) for schema in MESSAGE_TYPES
}
ALL_MESSAGE_KEYS: frozenset[str] = frozenset().union(*MESSAGE_KEYS_BY_ROLE.values())
