"""Issue #17's "refused at create": each answers 400 with the field in ``param`` and stores
nothing (no eval, no run)."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.integration.evals.conftest import ITEM_SCHEMA, STRING_CHECK, custom_config, jsonl_rows
from tests.support.http_checks import assert_openai_error
from tests.support.jobs import TINY_MODEL_ID
from tests.support.stack import ApiServer

SIMILARITY = {
    "type": "text_similarity",
    "name": "close",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "evaluation_metric": "bleu",
    "pass_threshold": 0.5,
}
SCORE_MODEL = {
    "type": "score_model",
    "name": "judge",
    "model": TINY_MODEL_ID,
    "input": [{"role": "user", "content": "{{sample.output_text}}"}],
}


def eval_body(**changes: Any) -> dict[str, Any]:
    return {"data_source_config": custom_config(), "testing_criteria": [STRING_CHECK]} | changes


# (case, body, param, code)
EVAL_REFUSALS: list[tuple[str, dict[str, Any], str, str | None]] = [
    (
        "unknown grader type",
        eval_body(testing_criteria=[STRING_CHECK, {**STRING_CHECK, "type": "regex", "name": "r"}]),
        "testing_criteria[1].type",
        "invalid_grader",
    ),
    (
        "bad template variable",
        eval_body(testing_criteria=[{**STRING_CHECK, "reference": "{{item.nope}}"}]),
        "testing_criteria[0].reference",
        "invalid_grader",
    ),
    (
        "template syntax",
        eval_body(testing_criteria=[{**STRING_CHECK, "reference": "{{item.answer"}]),
        "testing_criteria[0].reference",
        "invalid_grader",
    ),
    (
        "sample variable without a sample schema",
        eval_body(data_source_config=custom_config(include_sample_schema=False)),
        "testing_criteria[0].input",
        "invalid_grader",
    ),
    (
        "formula over unknown graders",
        eval_body(
            testing_criteria=[
                {
                    "type": "multi",
                    "name": "m",
                    "graders": STRING_CHECK,
                    "calculate_output": "exact + ghost",
                }
            ]
        ),
        "testing_criteria[0].calculate_output",
        "invalid_grader",
    ),
    (
        "a multi criterion",
        eval_body(
            testing_criteria=[
                {"type": "multi", "name": "m", "graders": STRING_CHECK, "calculate_output": "exact"}
            ]
        ),
        "testing_criteria[0].type",
        "grader_not_supported",
    ),
    (
        "a python grader",
        eval_body(testing_criteria=[{"type": "python", "name": "p", "source": "x = 1"}]),
        "testing_criteria[0].type",
        "grader_not_supported",
    ),
    (
        "a grader model the project may not call",
        eval_body(testing_criteria=[{**SCORE_MODEL, "model": "ft:somebody-else:model:1"}]),
        "testing_criteria[0].model",
        "model_not_found",
    ),
    (
        "text_similarity without pass_threshold",
        eval_body(
            testing_criteria=[{k: v for k, v in SIMILARITY.items() if k != "pass_threshold"}]
        ),
        "testing_criteria[0].pass_threshold",
        None,
    ),
    (
        "two criteria of one name",
        eval_body(testing_criteria=[STRING_CHECK, STRING_CHECK]),
        "testing_criteria[1].name",
        None,
    ),
    ("no criteria", eval_body(testing_criteria=[]), "testing_criteria", None),
    (
        "logs config",
        eval_body(data_source_config={"type": "logs", "metadata": {}}),
        "data_source_config.type",
        "unsupported_data_source",
    ),
    (
        "stored completions config",
        eval_body(data_source_config={"type": "stored_completions"}),
        "data_source_config.type",
        "unsupported_data_source",
    ),
    (
        "an item schema that is no schema",
        eval_body(data_source_config={"type": "custom", "item_schema": {"type": "banana"}}),
        "data_source_config.item_schema",
        None,
    ),
    (
        "an item schema that refers outside itself",
        eval_body(
            data_source_config={
                "type": "custom",
                "item_schema": {
                    "type": "object",
                    "properties": {"a": {"$ref": "https://x.test/s"}},
                },
            }
        ),
        "data_source_config.item_schema",
        None,
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "param", "code"), EVAL_REFUSALS, ids=[c[0] for c in EVAL_REFUSALS]
)
def test_a_bad_eval_is_refused_and_not_stored(
    http: httpx.Client, case: str, body: dict[str, Any], param: str, code: str | None
) -> None:
    error = assert_openai_error(http.post("/v1/evals", json=body), 400)

    assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    assert http.get("/v1/evals").json()["data"] == []


def rows_source(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "file_content", "content": rows}


def completions(**changes: Any) -> dict[str, Any]:
    return {
        "type": "completions",
        "model": TINY_MODEL_ID,
        "source": rows_source([{"item": {"question": "q", "answer": "a"}}]),
        "input_messages": {
            "type": "template",
            "template": [
                {"role": "system", "content": "Answer."},
                {"role": "user", "content": "{{item.question}}"},
            ],
        },
    } | changes


BAD_ROWS = jsonl_rows(5)
BAD_ROWS[3] = {"item": {"question": "q3", "answer": 3}, "sample": {"output_text": "3"}}

# (case, data_source, param, code)
RUN_REFUSALS: list[tuple[str, dict[str, Any], str, str | None]] = [
    (
        "an item that breaks the item schema",
        {"type": "jsonl", "source": rows_source(BAD_ROWS)},
        "data_source.source.content[3].item",
        None,
    ),
    (
        "a row without the sample the eval grades",
        {"type": "jsonl", "source": rows_source([{"item": {"question": "q", "answer": "a"}}])},
        "data_source.source.content[0].sample",
        None,
    ),
    (
        "an empty source",
        {"type": "jsonl", "source": rows_source([])},
        "data_source.source.content",
        None,
    ),
    (
        "a file that does not exist",
        {"type": "jsonl", "source": {"type": "file_id", "id": "file-nothere"}},
        "data_source.source.id",
        "file_not_found",
    ),
    (
        "a model the project may not call",
        completions(model="ft:somebody-else:model:1"),
        "data_source.model",
        "model_not_found",
    ),
    ("no model", completions(model=None), "data_source.model", None),
    (
        "a bad template variable",
        completions(
            input_messages={
                "type": "template",
                "template": [
                    {"role": "system", "content": "Answer."},
                    {"role": "user", "content": "{{item.nope}}"},
                ],
            }
        ),
        "data_source.input_messages.template[1].content",
        None,
    ),
    (
        "a sample variable in input_messages",
        completions(
            input_messages={
                "type": "template",
                "template": [{"role": "user", "content": "{{sample.output_text}}"}],
            }
        ),
        "data_source.input_messages.template[0].content",
        None,
    ),
    (
        "a responses data source",
        {"type": "responses", "source": {"type": "responses"}},
        "data_source.type",
        "unsupported_data_source",
    ),
    (
        "a stored completions source",
        completions(source={"type": "stored_completions"}),
        "data_source.source.type",
        "unsupported_data_source",
    ),
    (
        "tools in sampling_params",
        completions(sampling_params={"tools": [{"type": "function", "function": {"name": "f"}}]}),
        "data_source.sampling_params.tools",
        "unsupported_parameter",
    ),
    (
        "a temperature out of range",
        completions(sampling_params={"temperature": 3}),
        "data_source.sampling_params.temperature",
        None,
    ),
    (
        "an unknown field in a row",
        {"type": "jsonl", "source": rows_source([{"item": {}, "label": 1}])},
        "data_source.source.content[0].label",
        None,
    ),
]


@pytest.fixture
def eval_id(client: OpenAI) -> str:
    return client.evals.create(
        data_source_config=custom_config(),  # type: ignore[arg-type]
        testing_criteria=[STRING_CHECK],  # type: ignore[list-item]
    ).id


@pytest.mark.parametrize(
    ("case", "data_source", "param", "code"), RUN_REFUSALS, ids=[c[0] for c in RUN_REFUSALS]
)
def test_a_bad_run_is_refused_and_not_stored(
    http: httpx.Client,
    eval_id: str,
    case: str,
    data_source: dict[str, Any],
    param: str,
    code: str | None,
) -> None:
    response = http.post(f"/v1/evals/{eval_id}/runs", json={"data_source": data_source})

    error = assert_openai_error(response, 400)
    assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    assert http.get(f"/v1/evals/{eval_id}/runs").json()["data"] == []


def test_another_projects_file_is_not_a_source(
    evals_api: ApiServer, http: httpx.Client, eval_id: str
) -> None:
    with OpenAI(base_url=evals_api.base_url, api_key=evals_api.new_key("ev-file-owner")) as other:
        foreign = other.files.create(
            file=("rows.jsonl", io.BytesIO(b'{"item": {}}\n')), purpose="user_data"
        )

    response = http.post(
        f"/v1/evals/{eval_id}/runs",
        json={"data_source": {"type": "jsonl", "source": {"type": "file_id", "id": foreign.id}}},
    )

    error = assert_openai_error(response, 400)
    assert (error["param"], error["code"]) == ("data_source.source.id", "file_not_found")
    assert http.get(f"/v1/evals/{eval_id}/runs").json()["data"] == []


def test_an_empty_file_is_not_a_source(client: OpenAI, http: httpx.Client, eval_id: str) -> None:
    empty = client.files.create(file=("rows.jsonl", io.BytesIO(b"")), purpose="user_data")

    response = http.post(
        f"/v1/evals/{eval_id}/runs",
        json={"data_source": {"type": "jsonl", "source": {"type": "file_id", "id": empty.id}}},
    )

    assert assert_openai_error(response, 400)["param"] == "data_source.source.id"


def test_the_item_schema_is_kept_exactly(client: OpenAI) -> None:
    created = client.evals.create(
        data_source_config=custom_config(),  # type: ignore[arg-type]
        testing_criteria=[SIMILARITY],  # type: ignore[list-item]
    )
    assert created.data_source_config.schema_["properties"]["item"] == ITEM_SCHEMA  # type: ignore[index]
