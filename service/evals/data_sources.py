"""A run's ``data_source``, checked at create: which rows, and how samples are made.

- ``jsonl``: rows ``{"item": {...}, "sample": {...}?}``, given inline (``file_content``) or as
  a JSONL file the project owns (``file_id``); samples come from the rows.
- ``completions``: the same sources, each row's item rendered into ``input_messages`` (a
  template over ``{{item.…}}``) and sampled from ``model`` with ``sampling_params`` through the
  inference gateway.
- ``responses`` and the ``stored_completions`` source read stored responses or completions;
  ftapi stores none, so they answer 400 ``unsupported_data_source``.

Parsing here is shape only; ``RunService`` checks what needs the database (the file, the
model) and the eval (item schema, template variables). The parsed source is stored as the SDK
answers it (``as_answered``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.errors import InvalidRequest
from service.evals.params import parse_part, type_of

PARAM = "data_source"
Role = Literal["user", "assistant", "system", "developer"]
# Sampling options OpenAI defines that the inference gateway cannot honour.
UNSUPPORTED_SAMPLING = ("tools", "reasoning_effort")


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Row(_Shape):
    """One row of a source: the item, and (for ``jsonl``) the sample it is graded on."""

    item: dict[str, Any]
    sample: dict[str, Any] | None = None


class FileContentSource(_Shape):
    type: Literal["file_content"]
    content: list[Row]


class FileIdSource(_Shape):
    type: Literal["file_id"]
    id: str = Field(min_length=1, max_length=64)


class TextPart(_Shape):
    type: Literal["input_text", "output_text"]
    text: str


class TemplateMessage(_Shape):
    """One message of ``input_messages.template``; its text may hold ``{{item.…}}``."""

    role: Role
    content: str | list[TextPart]
    type: Literal["message"] | None = None

    def texts(self) -> list[str]:
        """Every text of the message, in order."""
        if isinstance(self.content, str):
            return [self.content]
        return [part.text for part in self.content]


class InputMessagesTemplate(_Shape):
    type: Literal["template"]
    template: list[TemplateMessage] = Field(min_length=1)


class ResponseFormatText(_Shape):
    type: Literal["text"]


class SamplingParams(_Shape):
    """What the gateway samples with (its bounds: temperature 0 to 2, top_p in (0, 1])."""

    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    response_format: ResponseFormatText | None = None


class _Jsonl(_Shape):
    type: Literal["jsonl"]
    source: dict[str, Any]


class _Completions(_Shape):
    type: Literal["completions"]
    source: dict[str, Any]
    input_messages: dict[str, Any] | None = None
    model: str | None = Field(default=None, max_length=256)
    sampling_params: dict[str, Any] | None = None


Source = FileContentSource | FileIdSource


@dataclass(frozen=True)
class RunDataSource:
    """A checked data source."""

    kind: Literal["jsonl", "completions"]
    source: Source
    model: str | None = None  # completions: the sampled model
    input_messages: InputMessagesTemplate | None = None
    sampling_params: SamplingParams | None = None

    @property
    def rows(self) -> list[Row] | None:
        """The inline rows, or None for a file."""
        return self.source.content if isinstance(self.source, FileContentSource) else None

    def as_answered(self) -> dict[str, Any]:
        """The stored and answered form (the SDK's ``CreateEval…RunDataSource``)."""
        answered: dict[str, Any] = {
            "type": self.kind,
            "source": self.source.model_dump(exclude_none=True),
        }
        if self.kind == "completions":
            if self.input_messages is not None:  # always, for completions
                answered["input_messages"] = self.input_messages.model_dump(exclude_none=True)
            answered["model"] = self.model or ""
            answered["sampling_params"] = (self.sampling_params or SamplingParams()).model_dump(
                exclude_none=True
            )
        return answered


def parse_data_source(raw: object) -> RunDataSource:
    """A create request's ``data_source``; a 400 naming the bad field otherwise."""
    kind = type_of(raw, param=PARAM, allowed=("jsonl", "completions", "responses"))
    if kind == "responses":
        raise InvalidRequest(
            "A 'responses' data source reads stored responses, and ftapi stores none. Use "
            "'jsonl' (rows with samples) or 'completions' (ftapi samples a model).",
            param=f"{PARAM}.type",
            code="unsupported_data_source",
        )
    if kind == "jsonl":
        jsonl = parse_part(_Jsonl, raw, param=PARAM)
        return RunDataSource("jsonl", _source(jsonl.source))
    completions = parse_part(_Completions, raw, param=PARAM)
    if completions.model is None or not completions.model:
        raise InvalidRequest(
            "A completions data source needs the model to sample.", param=f"{PARAM}.model"
        )
    return RunDataSource(
        "completions",
        _source(completions.source),
        model=completions.model,
        input_messages=_input_messages(completions.input_messages),
        sampling_params=_sampling_params(completions.sampling_params),
    )


def _source(raw: object) -> Source:
    param = f"{PARAM}.source"
    kind = type_of(raw, param=param, allowed=("file_content", "file_id", "stored_completions"))
    if kind == "stored_completions":
        raise InvalidRequest(
            "A 'stored_completions' source reads stored chat completions, and ftapi stores "
            "none. Use 'file_content' or 'file_id'.",
            param=f"{param}.type",
            code="unsupported_data_source",
        )
    if kind == "file_id":
        return parse_part(FileIdSource, raw, param=param)
    content = parse_part(FileContentSource, raw, param=param)
    if not content.content:
        raise InvalidRequest("The source has no rows; give at least one.", param=f"{param}.content")
    return content


def _input_messages(raw: object) -> InputMessagesTemplate:
    param = f"{PARAM}.input_messages"
    if raw is None:
        raise InvalidRequest(
            "A completions data source needs input_messages: a template of the messages to "
            "send for each item.",
            param=param,
        )
    kind = type_of(raw, param=param, allowed=("template", "item_reference"))
    if kind == "item_reference":
        raise InvalidRequest(
            "input_messages of type 'item_reference' are not supported; use a 'template' "
            "(its messages may include {{item.…}}).",
            param=f"{param}.type",
            code="unsupported_parameter",
        )
    return parse_part(InputMessagesTemplate, raw, param=param)


def _sampling_params(raw: dict[str, Any] | None) -> SamplingParams | None:
    if raw is None:
        return None
    param = f"{PARAM}.sampling_params"
    for name in UNSUPPORTED_SAMPLING:
        if raw.get(name) is not None:
            raise InvalidRequest(
                f"sampling_params.{name} is not supported by ftapi's inference gateway.",
                param=f"{param}.{name}",
                code="unsupported_parameter",
            )
    response_format = raw.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") != "text":
        raise InvalidRequest(
            "Only the 'text' response_format is supported: the inference gateway cannot "
            "constrain output to JSON.",
            param=f"{param}.response_format.type",
            code="unsupported_parameter",
        )
    return parse_part(SamplingParams, raw, param=param)
