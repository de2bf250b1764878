"""``client.fine_tuning.alpha.graders``: validate and run, with the SDK in strict mode."""

from __future__ import annotations

import httpx
import pytest
from openai import BadRequestError, OpenAI

from tests.support.http_checks import assert_openai_error
from tests.support.jobs import TINY_MODEL_ID

ITEM = {"answer": "Paris", "question": "Capital of France?"}
STRING_CHECK = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
SIMILARITY = {
    "type": "text_similarity",
    "name": "close",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "evaluation_metric": "fuzzy_match",
}
MULTI = {
    "type": "multi",
    "name": "blend",
    "graders": STRING_CHECK,
    "calculate_output": "0.5 * exact + 0.5",
}


@pytest.mark.parametrize("grader", [STRING_CHECK, SIMILARITY, MULTI], ids=lambda g: g["type"])
def test_validate_answers_the_grader(client: OpenAI, grader: dict[str, object]) -> None:
    validated = client.fine_tuning.alpha.graders.validate(grader=grader)  # type: ignore[arg-type]

    assert validated.grader is not None
    assert validated.grader.model_dump(exclude_none=True) == grader


def test_string_check_rewards_an_exact_match(client: OpenAI) -> None:
    hit = client.fine_tuning.alpha.graders.run(
        grader=STRING_CHECK,  # type: ignore[arg-type]
        model_sample="Paris",
        item=ITEM,
    )
    miss = client.fine_tuning.alpha.graders.run(
        grader=STRING_CHECK,  # type: ignore[arg-type]
        model_sample="Lyon",
        item=ITEM,
    )

    assert hit.reward == 1.0
    assert miss.reward == 0.0
    assert hit.metadata.name == "exact"
    assert hit.metadata.type == "string_check"
    assert hit.metadata.errors.invalid_variable_error is False
    assert hit.sub_rewards == {}
    assert hit.api_model_grader_token_usage_per_model == {}


def test_text_similarity_scores_closeness(client: OpenAI) -> None:
    near = client.fine_tuning.alpha.graders.run(
        grader=SIMILARITY,  # type: ignore[arg-type]
        model_sample="Pariss",
        item=ITEM,
    )

    assert 0.8 < near.reward < 1.0
    assert near.metadata.errors.other_error is False


def test_multi_combines_its_grader_by_formula(client: OpenAI) -> None:
    result = client.fine_tuning.alpha.graders.run(
        grader=MULTI,  # type: ignore[arg-type]
        model_sample="Paris",
        item=ITEM,
    )

    assert result.reward == 1.0
    assert result.sub_rewards == {"exact": 1.0}
    assert result.metadata.type == "multi"


def test_an_unknown_variable_is_reported_in_the_metadata(client: OpenAI) -> None:
    result = client.fine_tuning.alpha.graders.run(
        grader={**STRING_CHECK, "reference": "{{item.missing}}"},  # type: ignore[arg-type]
        model_sample="Paris",
        item=ITEM,
    )

    assert result.reward == 0.0
    assert result.metadata.errors.invalid_variable_error is True


@pytest.mark.parametrize(
    ("grader", "param", "code"),
    [
        ({**STRING_CHECK, "operation": "startswith"}, "grader.operation", "invalid_grader"),
        ({**STRING_CHECK, "type": "regex"}, "grader.type", "invalid_grader"),
        ({**STRING_CHECK, "reference": "{{ item.a + 1 }}"}, "grader.reference", "invalid_grader"),
        (
            {**MULTI, "calculate_output": "exact + nobody"},
            "grader.calculate_output",
            "invalid_grader",
        ),
        (
            {"type": "python", "name": "py", "source": "def grade(s, i): return 1"},
            "grader.type",
            "grader_not_supported",
        ),
        (
            {
                "type": "score_model",
                "name": "judge",
                "model": "ft:nobody:model:x",
                "input": [{"role": "user", "content": "{{sample.output_text}}"}],
            },
            "grader.model",
            "model_not_found",
        ),
    ],
)
def test_validate_names_the_bad_field(
    http: httpx.Client, grader: dict[str, object], param: str, code: str
) -> None:
    for route in ("validate", "run"):
        body: dict[str, object] = {"grader": grader}
        if route == "run":
            body |= {"model_sample": "x", "item": {}}
        error = assert_openai_error(
            http.post(f"/v1/fine_tuning/alpha/graders/{route}", json=body), 400
        )
        assert (error["param"], error["code"]) == (param, code), error


def test_run_refuses_an_item_that_is_not_an_object(client: OpenAI) -> None:
    with pytest.raises(BadRequestError) as raised:
        client.fine_tuning.alpha.graders.run(
            grader=STRING_CHECK,  # type: ignore[arg-type]
            model_sample="Paris",
            item=["Paris"],
        )
    assert raised.value.body["param"] == "item"  # type: ignore[index]


def test_a_grader_model_that_cannot_answer_is_a_flag_not_an_error(client: OpenAI) -> None:
    # This stack has no inference replicas: the registered base model cannot answer.
    result = client.fine_tuning.alpha.graders.run(
        grader={
            "type": "score_model",
            "name": "judge",
            "model": TINY_MODEL_ID,
            "input": [{"role": "user", "content": "Rate: {{sample.output_text}}"}],
        },
        model_sample="Paris",
        item=ITEM,
    )

    assert result.reward == 0.0
    assert result.metadata.errors.api_model_grader_server_error is True
    assert result.metadata.errors.api_model_grader_server_error_details
