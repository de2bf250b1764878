"""HTTP shapes of the Evals API: request bodies and the ``openai`` SDK's ``Eval*Response``,
``Run*Response`` and ``OutputItem*Response`` objects (strict-SDK compatible).

The polymorphic parts of a request (``data_source_config``, ``testing_criteria``,
``data_source``) arrive as plain JSON and are parsed by ``item_schema``, ``criteria`` and
``data_sources``, so their errors name fields the way OpenAI does (``testing_criteria[1].input``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from service.evals.records import EvalRecord, OutputItemRecord, RunRecord
from service.http.schemas import InputModel

MAX_METADATA_PAIRS = 16
MAX_NAME_CHARS = 256


def _metadata_limits(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_METADATA_PAIRS:
        raise ValueError(f"at most {MAX_METADATA_PAIRS} metadata pairs")
    for key, item in value.items():
        if len(key) > 64 or len(item) > 512:
            raise ValueError("metadata keys are at most 64 characters, values at most 512")
    return value


Metadata = Annotated[dict[str, str], AfterValidator(_metadata_limits)]
Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]


# -- requests ----------------------------------------------------------------------------------


class EvalCreate(InputModel):
    """``POST /v1/evals``."""

    name: Name | None = None
    metadata: Metadata | None = None
    data_source_config: dict[str, Any] = Field(
        description='`{"type": "custom", "item_schema": {...}, "include_sample_schema": '
        "bool}`; `logs` and `stored_completions` answer 400 `unsupported_data_source`."
    )
    testing_criteria: list[Any] = Field(
        description="Graders: `string_check`, `text_similarity` (with `pass_threshold`), "
        "`score_model`, `label_model`. `python` and `multi` answer 400 `grader_not_supported`."
    )


class EvalUpdate(InputModel):
    """``POST /v1/evals/{eval_id}``: only the fields given change (``metadata: null`` clears)."""

    name: Name | None = None
    metadata: Metadata | None = None


class RunCreate(InputModel):
    """``POST /v1/evals/{eval_id}/runs``."""

    name: Name | None = None
    metadata: Metadata | None = None
    data_source: dict[str, Any] = Field(
        description="`jsonl` (`file_content` rows or a `file_id`) or `completions` (a source, "
        "`input_messages` template, `model` and `sampling_params`); `responses` answers 400 "
        "`unsupported_data_source`."
    )


# -- evals -------------------------------------------------------------------------------------


class EvalObject(BaseModel):
    """OpenAI's ``eval``."""

    id: str
    object: Literal["eval"] = "eval"
    created_at: int
    name: str
    metadata: dict[str, str] | None
    data_source_config: dict[str, Any]
    testing_criteria: list[dict[str, Any]]

    @classmethod
    def of(cls, record: EvalRecord) -> EvalObject:
        """The wire shape of an eval."""
        return cls(
            id=record.id,
            created_at=record.created_at,
            name=record.name,
            metadata=record.metadata,
            data_source_config=record.data_source_config,
            testing_criteria=list(record.testing_criteria),
        )


class EvalDeleted(BaseModel):
    """The answer to ``DELETE /v1/evals/{eval_id}``."""

    object: Literal["eval.deleted"] = "eval.deleted"
    deleted: bool
    eval_id: str


# -- runs --------------------------------------------------------------------------------------


class EvalApiErrorObject(BaseModel):
    """A run's or sample's error; both strings are empty when there is none (the SDK requires
    the object)."""

    code: str = ""
    message: str = ""


class ResultCountsObject(BaseModel):
    total: int
    passed: int
    failed: int
    errored: int


class PerModelUsageObject(BaseModel):
    model_name: str
    invocation_count: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int


class PerCriterionResultObject(BaseModel):
    testing_criteria: str
    passed: int
    failed: int


def report_url(eval_id: str) -> str:
    """Where the console shows an eval's runs (relative to the api's origin)."""
    return f"/console/#/evals/{eval_id}"


class RunObject(BaseModel):
    """OpenAI's ``eval.run``."""

    id: str
    object: Literal["eval.run"] = "eval.run"
    created_at: int
    eval_id: str
    name: str
    status: str = Field(description="queued, in_progress, completed, canceled or failed.")
    model: str = Field(description="The sampled model of a completions run; empty for jsonl.")
    data_source: dict[str, Any]
    error: EvalApiErrorObject
    metadata: dict[str, str] | None
    result_counts: ResultCountsObject
    per_model_usage: list[PerModelUsageObject]
    per_testing_criteria_results: list[PerCriterionResultObject]
    report_url: str

    @classmethod
    def of(cls, record: RunRecord) -> RunObject:
        """The wire shape of a run."""
        error = record.error or {}
        counts = record.result_counts
        return cls(
            id=record.id,
            created_at=record.created_at,
            eval_id=record.eval_id,
            name=record.name,
            status=record.status.value,
            model=record.model or "",
            data_source=record.data_source,
            error=EvalApiErrorObject(
                code=str(error.get("code", "")), message=str(error.get("message", ""))
            ),
            metadata=record.metadata,
            result_counts=ResultCountsObject(
                total=counts.total,
                passed=counts.passed,
                failed=counts.failed,
                errored=counts.errored,
            ),
            per_model_usage=[
                PerModelUsageObject(
                    model_name=usage.model_name,
                    invocation_count=usage.invocation_count,
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    total_tokens=usage.total_tokens,
                    cached_tokens=usage.cached_tokens,
                )
                for usage in record.per_model_usage
            ],
            per_testing_criteria_results=[
                PerCriterionResultObject(
                    testing_criteria=result.testing_criteria,
                    passed=result.passed,
                    failed=result.failed,
                )
                for result in record.per_testing_criteria_results
            ],
            report_url=report_url(record.eval_id),
        )


class RunDeleted(BaseModel):
    """The answer to ``DELETE /v1/evals/{eval_id}/runs/{run_id}``."""

    object: Literal["eval.run.deleted"] = "eval.run.deleted"
    deleted: bool
    run_id: str


# -- output items ------------------------------------------------------------------------------


class SampleMessageObject(BaseModel):
    """A message sent to or answered by the sampled model (content as text)."""

    role: str = ""
    content: str = ""

    @field_validator("content", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        # Template messages may hold content parts; the SDK reads a sample's content as text.
        if value is None or isinstance(value, str):
            return value or ""
        return json.dumps(value, ensure_ascii=False)


class SampleUsageObject(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0


class SampleObject(BaseModel):
    """OpenAI's output item ``sample``; fields a JSONL row's given sample lacks are empty."""

    model_config = ConfigDict(extra="ignore")

    input: list[SampleMessageObject] = Field(default_factory=list)
    output: list[SampleMessageObject] = Field(default_factory=list)
    model: str = ""
    finish_reason: str = ""
    usage: SampleUsageObject = Field(default_factory=SampleUsageObject)
    error: EvalApiErrorObject = Field(default_factory=EvalApiErrorObject)
    seed: int = 0
    temperature: float = 0.0
    top_p: float = 0.0
    max_completion_tokens: int = 0

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> SampleObject:
        """The wire shape of a stored sample (absent and null fields read as empty)."""
        return cls.model_validate(
            {key: value for key, value in stored.items() if value is not None}
        )


class ResultObject(BaseModel):
    """One testing criterion's result on an item, with ``metadata`` and ``sub_rewards`` beside
    the SDK's fields."""

    model_config = ConfigDict(extra="allow")

    name: str
    type: str | None = None
    passed: bool
    score: float
    sample: dict[str, Any] | None = None


class OutputItemObject(BaseModel):
    """OpenAI's ``eval.run.output_item``."""

    id: str
    object: Literal["eval.run.output_item"] = "eval.run.output_item"
    created_at: int
    eval_id: str
    run_id: str
    status: str = Field(description="pass, fail or error.")
    datasource_item_id: int
    datasource_item: dict[str, Any]
    sample: SampleObject
    results: list[ResultObject]

    @classmethod
    def of(cls, record: OutputItemRecord) -> OutputItemObject:
        """The wire shape of an output item."""
        return cls(
            id=record.id,
            created_at=record.created_at,
            eval_id=record.eval_id,
            run_id=record.run_id,
            status=record.status.value,
            datasource_item_id=record.datasource_item_id,
            datasource_item=record.datasource_item,
            sample=SampleObject.of(record.sample),
            results=[ResultObject.model_validate(result) for result in record.results],
        )
