"""parse_grader and check_template_variables: every refusal names the right param."""

from __future__ import annotations

from typing import Any

import pytest

from service.graders import (
    GraderCapabilities,
    GraderInvalid,
    GraderNotSupported,
    check_template_variables,
    model_names,
    parse_grader,
)
from tests.unit.graders.helpers import ALL, grader, string_check

SIMILARITY: dict[str, Any] = {
    "type": "text_similarity",
    "name": "sim",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "evaluation_metric": "rouge_l",
}
SCORE: dict[str, Any] = {
    "type": "score_model",
    "name": "judge",
    "model": "ftapi/demo-tiny",
    "input": [{"role": "user", "content": "{{item.question}} -> {{sample.output_text}}"}],
}
LABEL: dict[str, Any] = {
    "type": "label_model",
    "name": "label",
    "model": "ft:ftapi/demo-tiny:org::x",
    "input": [{"role": "system", "content": "Classify {{item.question}}"}],
    "labels": ["yes", "no"],
    "passing_labels": ["yes"],
}


def refusal(raw: object, *, param: str = "grader", embeddings: bool = True) -> GraderInvalid:
    with pytest.raises(GraderInvalid) as refused:
        parse_grader(raw, param=param, capabilities=GraderCapabilities(embeddings=embeddings))
    return refused.value


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ("string_check", "grader"),
        ({"name": "x"}, "grader.type"),
        ({"type": "regex"}, "grader.type"),
        ({**string_check("a", "b"), "operation": "glob"}, "grader.operation"),
        ({**string_check("a", "b"), "extra": 1}, "grader.extra"),
        ({k: v for k, v in string_check("a", "b").items() if k != "reference"}, "grader.reference"),
        ({**string_check("a", "b"), "input": 3}, "grader.input"),
        ({**string_check("{{item.a", "b")}, "grader.input"),
        ({**SIMILARITY, "evaluation_metric": "rouge_9"}, "grader.evaluation_metric"),
        ({**SIMILARITY, "reference": "{{ nope.x }}"}, "grader.reference"),
        ({**SCORE, "range": [1, 0]}, "grader.range"),
        ({**SCORE, "range": [0, 1, 2]}, "grader.range"),
        ({**SCORE, "range": ["low", 1]}, "grader.range[0]"),
        ({**SCORE, "input": []}, "grader.input"),
        ({**SCORE, "model": " "}, "grader.model"),
        ({**SCORE, "sampling_params": {"temperature": 3}}, "grader.sampling_params.temperature"),
        ({**SCORE, "sampling_params": {"top_p": 0}}, "grader.sampling_params.top_p"),
        (
            {**SCORE, "sampling_params": {"max_completions_tokens": 0}},
            "grader.sampling_params.max_completions_tokens",
        ),
        ({**SCORE, "sampling_params": {"top_k": 3}}, "grader.sampling_params.top_k"),
        ({**SCORE, "input": [{"role": "robot", "content": "x"}]}, "grader.input[0].role"),
        (
            {**SCORE, "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
            "grader.input[0].content",
        ),
        (
            {**SCORE, "input": [{"role": "user", "content": "{{ sample.output_text "}]},
            "grader.input[0].content",
        ),
        (
            {
                **SCORE,
                "input": [
                    {"role": "user", "content": [{"type": "input_text", "text": "{{ item }"}]}
                ],
            },
            "grader.input[0].content[0].text",
        ),
        ({**LABEL, "passing_labels": ["maybe"]}, "grader.passing_labels"),
        ({**LABEL, "passing_labels": []}, "grader.passing_labels"),
        ({**LABEL, "labels": []}, "grader.labels"),
        ({**LABEL, "labels": ["yes", "yes"]}, "grader.labels"),
        (
            {
                "type": "multi",
                "name": "m",
                "calculate_output": "s + t",
                "graders": {"s": SIMILARITY},
            },
            "grader.calculate_output",
        ),
        (
            {"type": "multi", "name": "m", "calculate_output": "s", "graders": []},
            "grader.graders",
        ),
        (
            {
                "type": "multi",
                "name": "m",
                "calculate_output": "s",
                "graders": {"s": {**SIMILARITY, "input": 1}},
            },
            "grader.graders.s.input",
        ),
        (
            {
                "type": "multi",
                "name": "m",
                "calculate_output": "sim",
                "graders": {**SIMILARITY, "evaluation_metric": "x"},
            },
            "grader.graders.evaluation_metric",
        ),
        (
            {
                "type": "multi",
                "name": "m",
                "calculate_output": "s",
                "graders": {"s": {"type": "multi", "name": "inner"}},
            },
            "grader.graders.s.type",
        ),
        (
            {
                "type": "multi",
                "name": "m",
                "calculate_output": "s",
                "graders": {"s": {**LABEL, "passing_labels": ["x"]}},
            },
            "grader.graders.s.passing_labels",
        ),
    ],
)
def test_refusals_name_the_field(raw: object, param: str) -> None:
    refused = refusal(raw)
    assert refused.param == param, refused.message
    assert refused.code == "invalid_grader"
    assert refused.status_code == 400
    assert param in refused.message or refused.param == "grader"


def test_a_valid_map_form_multi_is_accepted() -> None:
    parsed = grader(
        {"type": "multi", "name": "m", "calculate_output": "a", "graders": {"a": LABEL}}
    )
    assert parsed.type == "multi"


def test_the_caller_prefix_is_kept() -> None:
    refused = refusal({**SIMILARITY, "evaluation_metric": "nope"}, param="testing_criteria[2]")
    assert refused.param == "testing_criteria[2].evaluation_metric"


def test_python_graders_are_not_supported_and_say_why() -> None:
    raw = {"type": "python", "name": "py", "source": "def grade(sample, item): return 1"}
    for wrapped, param in [
        (raw, "grader.type"),
        (
            {"type": "multi", "name": "m", "calculate_output": "p", "graders": {"p": raw}},
            "grader.graders.p.type",
        ),
    ]:
        with pytest.raises(GraderNotSupported) as refused:
            parse_grader(wrapped, capabilities=ALL)
        assert refused.value.param == param
        assert refused.value.code == "grader_not_supported"
        assert refused.value.status_code == 400
        assert "isolation" in refused.value.message


def test_cosine_needs_an_embedding_model() -> None:
    raw = {**SIMILARITY, "evaluation_metric": "cosine"}
    with pytest.raises(GraderNotSupported) as refused:
        parse_grader(raw, capabilities=GraderCapabilities(embeddings=False))
    assert refused.value.param == "grader.evaluation_metric"
    assert (
        parse_grader(raw, capabilities=GraderCapabilities(embeddings=True)).type
        == "text_similarity"
    )


@pytest.mark.parametrize(
    ("content", "param"),
    [
        ({"type": "input_image", "image_url": "https://x/y.png"}, "grader.input[0].content"),
        (
            ["look:", {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}],
            "grader.input[0].content[1]",
        ),
    ],
)
def test_images_and_audio_are_not_supported(content: object, param: str) -> None:
    with pytest.raises(GraderNotSupported) as refused:
        parse_grader({**SCORE, "input": [{"role": "user", "content": content}]}, capabilities=ALL)
    assert refused.value.param == param


ITEM_SCHEMA = {
    "type": "object",
    "properties": {
        "question": {"type": "string"},
        "answer": {"type": "string"},
        "meta": {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
        },
        "free": {},
        "open": {"type": "object", "additionalProperties": True, "properties": {}},
    },
    "required": ["question"],
}


@pytest.mark.parametrize(
    "template",
    [
        "{{item.question}}",
        "{{ item.meta.tags.0 }}",
        "{{item.meta.tags[3]}}",
        "{{item.free.anything.below}}",
        "{{item.open.whatever}}",
        "{{item}}",
        "{{sample.output_text}}",
    ],
)
def test_template_variables_within_the_item_schema(template: str) -> None:
    check_template_variables(
        grader(string_check(template, "x")),
        param="testing_criteria[0]",
        item_schema=ITEM_SCHEMA,
        sample_allowed=True,
    )


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("{{item.nope}}", "no property 'nope'"),
        ("{{item.meta.colour}}", "no property 'colour'"),
        ("{{item.question.length}}", "string"),
        ("{{item.meta.tags.first}}", "array"),
        ("{{ item.__class__ }}", "no property '__class__'"),
    ],
)
def test_template_variables_outside_the_item_schema(template: str, complaint: str) -> None:
    with pytest.raises(GraderInvalid, match=complaint) as refused:
        check_template_variables(
            grader(string_check("x", template)),
            param="testing_criteria[1]",
            item_schema=ITEM_SCHEMA,
            sample_allowed=True,
        )
    assert refused.value.param == "testing_criteria[1].reference"


def test_sample_variables_need_a_sample() -> None:
    label = grader(
        {
            **LABEL,
            "input": [
                {
                    "role": "user",
                    "content": ["ok", {"type": "input_text", "text": "{{sample.output_text}}"}],
                }
            ],
        }
    )
    with pytest.raises(GraderInvalid, match="no sample") as refused:
        check_template_variables(
            label, param="testing_criteria[0]", item_schema=None, sample_allowed=False
        )
    assert refused.value.param == "testing_criteria[0].input[0].content[1].text"
    check_template_variables(
        label, param="testing_criteria[0]", item_schema=None, sample_allowed=True
    )


def test_template_variables_inside_multi_name_the_sub_grader() -> None:
    multi = grader(
        {
            "type": "multi",
            "name": "m",
            "calculate_output": "s",
            "graders": {"s": {**SIMILARITY, "reference": "{{item.gone}}"}},
        }
    )
    with pytest.raises(GraderInvalid) as refused:
        check_template_variables(
            multi, param="grader", item_schema=ITEM_SCHEMA, sample_allowed=True
        )
    assert refused.value.param == "grader.graders.s.reference"


def test_model_names() -> None:
    assert model_names(grader(SCORE)) == {"ftapi/demo-tiny"}
    assert model_names(grader(string_check("a", "b"))) == set()
    multi = grader(
        {
            "type": "multi",
            "name": "m",
            "calculate_output": "a + b + c",
            "graders": {"a": SCORE, "b": LABEL, "c": SIMILARITY},
        }
    )
    assert model_names(multi) == {"ftapi/demo-tiny", "ft:ftapi/demo-tiny:org::x"}
