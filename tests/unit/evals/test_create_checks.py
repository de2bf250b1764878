"""The evals' create-time parsing, as pure functions: param paths, configs, data sources, rows."""

from __future__ import annotations

from typing import Any

import pytest

from service.errors import InvalidRequest
from service.evals.data_sources import parse_data_source
from service.evals.item_schema import (
    SAMPLE_SCHEMA,
    CustomConfig,
    ItemSchema,
    parse_data_source_config,
)
from service.evals.params import param_path
from service.evals.records import (
    CriterionResult,
    ModelUsage,
    ResultCounts,
    RunRecord,
    RunStatus,
)
from service.evals.rows import run_record, run_row

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def refused(call: Any, *args: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as raised:
        call(*args)
    return raised.value


def test_param_paths_read_like_openais() -> None:
    assert param_path("data_source", ("source", "content", 3, "item")) == (
        "data_source.source.content[3].item"
    )
    assert param_path("", ("a", 0)) == "a[0]"


def test_a_custom_config_is_answered_with_the_generated_schema() -> None:
    config = parse_data_source_config(
        {"type": "custom", "item_schema": SCHEMA, "include_sample_schema": True}
    )

    answered = config.as_answered()
    assert answered == {
        "type": "custom",
        "schema": {
            "type": "object",
            "properties": {"item": SCHEMA, "sample": SAMPLE_SCHEMA},
            "required": ["item", "sample"],
        },
    }
    assert CustomConfig.of_stored(answered) == config


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ({"type": "custom"}, "data_source_config.item_schema"),
        ({"type": "custom", "item_schema": {"type": "string"}}, "data_source_config.item_schema"),
        ({"type": "custom", "item_schema": SCHEMA, "extra": 1}, "data_source_config.extra"),
        (
            {"type": "custom", "item_schema": SCHEMA, "include_sample_schema": "yes"},
            "data_source_config.include_sample_schema",
        ),
        (
            {"type": "custom", "item_schema": {"properties": {"a": {"pattern": "(a+)+$"}}}},
            "data_source_config.item_schema",
        ),
        (
            {"type": "custom", "item_schema": {"patternProperties": {"^x": {}}}},
            "data_source_config.item_schema",
        ),
        (
            {"type": "custom", "item_schema": {"$defs": {"a": {"$ref": "https://x.test/a"}}}},
            "data_source_config.item_schema",
        ),
        ({"type": "logs"}, "data_source_config.type"),
        ({"type": 7}, "data_source_config.type"),
        ([], "data_source_config"),
    ],
)
def test_bad_configs_name_their_field(raw: object, param: str) -> None:
    assert refused(parse_data_source_config, raw).param == param


def test_names_and_data_are_not_read_as_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {"pattern": {"type": "string"}, "$ref": {"type": "string"}},
        "enum": [{"pattern": "(a+)+$", "$ref": "https://x.test"}],
    }

    config = parse_data_source_config({"type": "custom", "item_schema": schema})

    assert config.item_schema == schema


def test_rows_are_checked_against_the_item_and_sample_schemas() -> None:
    schema = ItemSchema(CustomConfig(SCHEMA, include_sample_schema=True))

    assert schema.item_problem({"n": 1}) is None
    problem = schema.item_problem({"n": "one"})
    assert problem is not None
    assert "$.n" in problem
    assert schema.sample_problem({"output_text": 3}) is not None
    assert schema.sample_problem({"output_text": "3"}) is None


def test_a_pointer_to_nowhere_is_a_problem_not_a_crash() -> None:
    schema = ItemSchema(
        CustomConfig({"type": "object", "properties": {"a": {"$ref": "#/$defs/gone"}}}, False)
    )

    problem = schema.item_problem({"a": 1})
    assert problem is not None
    assert "does not resolve" in problem


def test_a_completions_source_is_stored_as_the_sdk_answers_it() -> None:
    raw = {
        "type": "completions",
        "model": "base",
        "source": {"type": "file_id", "id": "file-1"},
        "input_messages": {
            "type": "template",
            "template": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        },
        "sampling_params": {"top_p": 0.5, "response_format": {"type": "text"}},
    }

    source = parse_data_source(raw)

    assert source.rows is None
    assert source.as_answered() == raw


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (
            {"type": "jsonl", "source": {"type": "file_content", "content": [{}]}},
            "data_source.source.content[0].item",
        ),
        ({"type": "jsonl", "source": {"type": "file_id"}}, "data_source.source.id"),
        ({"type": "jsonl", "source": "rows"}, "data_source.source"),
        ({"type": "jsonl"}, "data_source.source"),
        ({"type": "csv"}, "data_source.type"),
        (
            {
                "type": "completions",
                "model": "m",
                "source": {"type": "file_id", "id": "f"},
                "input_messages": {"type": "item_reference", "item_reference": "item.x"},
            },
            "data_source.input_messages.type",
        ),
        (
            {
                "type": "completions",
                "model": "m",
                "source": {"type": "file_id", "id": "f"},
                "input_messages": {
                    "type": "template",
                    "template": [{"role": "robot", "content": "x"}],
                },
            },
            "data_source.input_messages.template[0].role",
        ),
        (
            {"type": "completions", "model": "m", "source": {"type": "file_id", "id": "f"}},
            "data_source.input_messages",
        ),
    ],
)
def test_bad_data_sources_name_their_field(raw: object, param: str) -> None:
    assert refused(parse_data_source, raw).param == param


def test_a_run_row_round_trips() -> None:
    record = RunRecord(
        id="evalrun_1",
        eval_id="eval_1",
        project_id="proj_1",
        name="r",
        status=RunStatus.FAILED,
        model="m",
        data_source={"type": "jsonl"},
        metadata={"k": "v"},
        error={"code": "worker_lost", "message": "gone"},
        total_items=3,
        result_counts=ResultCounts(total=3, passed=1, failed=1, errored=1),
        per_model_usage=(ModelUsage("m", 2, 10, 5, 15),),
        per_testing_criteria_results=(CriterionResult("exact", 1, 1),),
        attempts=2,
        heartbeat_at=5,
        created_at=1,
        created_us=1_000_000,
        finished_at=9,
    )

    assert run_record(run_row(record)) == record
