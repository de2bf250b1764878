"""score_model and label_model with scripted grader models; the concurrency bound."""

from __future__ import annotations

import asyncio

import pytest

from service.graders import (
    BoundedGraderModels,
    GradedSample,
    GraderModelError,
    default_pass_threshold,
    passed,
    run_grader,
)
from tests.unit.graders.fakes import FixedEmbeddings, GatedModels, ScriptedModels
from tests.unit.graders.helpers import errors_of, grade, grader


def score_model(**more: object) -> dict[str, object]:
    return {
        "type": "score_model",
        "name": "judge",
        "model": "ftapi/demo-tiny",
        "input": [
            {"role": "developer", "content": "You grade answers to {{item.question}}."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Answer: {{sample.output_text}}"},
                    {"type": "output_text", "text": "Expected: {{ item.answer }}"},
                ],
            },
        ],
        **more,
    }


def label_model(**more: object) -> dict[str, object]:
    return {
        "type": "label_model",
        "name": "sentiment",
        "model": "ft:ftapi/demo-tiny:org::abc",
        "input": [{"role": "user", "content": "Classify: {{sample.output_text}}"}],
        "labels": ["positive", "neutral", "negative"],
        "passing_labels": ["positive", "neutral"],
        **more,
    }


ITEM = {"question": "2+2?", "answer": "4"}


async def test_score_model_sends_the_rendered_prompt_and_reads_the_result() -> None:
    models = ScriptedModels('{"result": 0.75}')
    raw = score_model(sampling_params={"temperature": 0.2, "seed": 7, "max_completions_tokens": 9})
    result = await grade(raw, item=ITEM, output="four", models=models)
    assert result.reward == 0.75
    assert not result.has_error()
    (call,) = models.calls
    assert call.model == "ftapi/demo-tiny"
    assert (call.max_tokens, call.temperature, call.top_p, call.seed) == (9, 0.2, None, 7)
    system, user = call.messages
    assert system["role"] == "system"  # developer becomes system, with the instruction added
    assert system["content"].startswith("You grade answers to 2+2?.\n\n")
    assert '{"result": <score>}' in system["content"]
    assert "from 0 to 1" in system["content"]
    assert user == {"role": "user", "content": "Answer: four\nExpected: 4"}
    assert result.model_token_usage == {
        "ftapi/demo-tiny": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    }
    assert result.metadata["token_usage"] == 14
    assert result.metadata["sampled_model_name"] == "ftapi/demo-tiny"


@pytest.mark.parametrize(
    ("answer", "score_range", "expected"),
    [
        ('{"result": 7}', [0, 10], 7.0),
        ('```json\n{"score": "0.4", "why": "close"}\n```', None, 0.4),
        ("8", [1, 10], 8.0),
        ("I would say 3.5 out of 5.", [0, 5], 3.5),
        ("-1", [-1, 1], -1.0),
    ],
)
async def test_score_answers_that_parse(
    answer: str, score_range: list[float] | None, expected: float
) -> None:
    raw = score_model(range=score_range) if score_range else score_model()
    result = await grade(raw, item=ITEM, models=ScriptedModels(answer))
    assert result.reward == expected
    assert not result.has_error()


@pytest.mark.parametrize(
    "answer", ["", "no idea", '{"result": "high"}', '{"result": 2}', "1.5", "NaN", "-0.1", "1e999"]
)
async def test_garbage_or_out_of_range_scores_are_parse_errors(answer: str) -> None:
    result = await grade(score_model(), item=ITEM, models=ScriptedModels(answer))
    assert errors_of(result) == {"model_grader_parse_error"}
    assert result.reward == 0.0
    assert result.model_token_usage["ftapi/demo-tiny"]["total_tokens"] == 14  # still spent


async def test_a_failing_grader_model_is_a_server_error_with_details() -> None:
    models = ScriptedModels(GraderModelError("the engine answered 503"))
    result = await grade(score_model(), item=ITEM, models=models)
    assert errors_of(result) == {"model_grader_server_error"}
    errors = result.metadata["errors"]
    assert isinstance(errors, dict)
    assert errors["model_grader_server_error_details"] == "the engine answered 503"
    assert result.reward == 0.0
    assert result.model_token_usage == {}


async def test_no_grader_model_client_is_a_server_error() -> None:
    result = await grade(label_model(), item=ITEM, models=None)
    assert errors_of(result) == {"model_grader_server_error"}


async def test_an_unknown_variable_never_reaches_the_model() -> None:
    models = ScriptedModels("1")
    result = await grade(score_model(), item={"question": "2+2?"}, models=models)
    assert errors_of(result) == {"invalid_variable_error"}
    assert models.calls == []


@pytest.mark.parametrize(
    ("answer", "label", "reward"),
    [
        ("positive", "positive", 1.0),
        ("Neutral.", "neutral", 1.0),
        ('"negative"', "negative", 0.0),
        ('{"result": "negative"}', "negative", 0.0),
        ("The sentiment is clearly Positive here", "positive", 1.0),
    ],
)
async def test_label_model_reads_the_label(answer: str, label: str, reward: float) -> None:
    models = ScriptedModels(answer)
    result = await grade(label_model(), output="great!", models=models)
    assert result.reward == reward
    assert result.metadata["scores"] == {"label": label}
    assert passed(grader(label_model()), result.reward, None) is (reward == 1.0)
    (call,) = models.calls
    assert call.messages[0]["role"] == "system"
    assert '"positive", "neutral", "negative"' in call.messages[0]["content"]
    assert call.messages[1] == {"role": "user", "content": "Classify: great!"}


@pytest.mark.parametrize("answer", ["", "happy", "positive or negative", "nonpositive"])
async def test_unknown_or_ambiguous_labels_are_parse_errors(answer: str) -> None:
    result = await grade(label_model(), output="x", models=ScriptedModels(answer))
    assert errors_of(result) == {"model_grader_parse_error"}


async def test_a_label_contained_in_another_reads_as_the_longer_one() -> None:
    raw = label_model(labels=["good", "very good"], passing_labels=["very good"])
    result = await grade(raw, output="x", models=ScriptedModels("It is very good."))
    assert result.metadata["scores"] == {"label": "very good"}
    assert result.reward == 1.0


def test_pass_thresholds() -> None:
    judge = grader(score_model(range=[0, 10]))
    assert default_pass_threshold(judge) == 5.0  # the middle of the range
    assert passed(judge, 5.0, None)
    assert not passed(judge, 4.9, None)
    assert passed(judge, 3.0, 3.0)
    similarity = grader(
        {
            "type": "text_similarity",
            "name": "s",
            "input": "a",
            "reference": "b",
            "evaluation_metric": "bleu",
        }
    )
    assert passed(similarity, 0.8, 0.8)
    assert not passed(similarity, 0.79, 0.8)
    assert default_pass_threshold(similarity) == 0.5


async def test_cosine_uses_the_embedding_seam() -> None:
    raw = {
        "type": "text_similarity",
        "name": "cos",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "evaluation_metric": "cosine",
    }
    embeddings = FixedEmbeddings({"cat": [1.0, 1.0], "kitten": [1.0, 0.0]})
    result = await grade(raw, item={"answer": "kitten"}, output="cat", embeddings=embeddings)
    assert result.reward == pytest.approx(2**-0.5)
    failing = FixedEmbeddings({}, error=GraderModelError("embedding endpoint down"))
    result = await grade(raw, item={"answer": "kitten"}, output="cat", embeddings=failing)
    assert errors_of(result) == {"model_grader_server_error"}
    result = await grade(raw, item={"answer": "kitten"}, output="cat", embeddings=None)
    assert errors_of(result) == {"model_grader_server_error"}


async def test_bounded_models_never_exceed_the_limit() -> None:
    gated = GatedModels(answer="1", signal_at=3)
    bounded = BoundedGraderModels(gated, limit=3)
    calls = [
        asyncio.create_task(
            bounded.chat("m", [], max_tokens=None, temperature=None, top_p=None, seed=None)
        )
        for _ in range(10)
    ]
    await gated.reached.wait()
    for _ in range(50):  # give every waiting call the chance to get in: none may
        await asyncio.sleep(0)
    assert gated.in_flight == 3
    gated.release.set()
    answers = await asyncio.gather(*calls)
    assert len(answers) == 10
    assert gated.max_in_flight == 3


async def test_the_bound_holds_across_graders_and_items() -> None:
    gated = GatedModels(answer='{"result": 1}', signal_at=2)
    bounded = BoundedGraderModels(gated, limit=2)
    judges = {f"j{i}": score_model(name=f"j{i}") for i in range(4)}
    combined = grader(
        {"type": "multi", "name": "all", "calculate_output": "j0 + j1 + j2 + j3", "graders": judges}
    )
    runs = [
        asyncio.create_task(
            run_grader(
                combined,
                item=ITEM,
                sample=GradedSample.of_text(str(i)),
                models=bounded,
                embeddings=None,
            )
        )
        for i in range(3)
    ]
    await gated.reached.wait()
    for _ in range(50):
        await asyncio.sleep(0)
    assert gated.in_flight == 2
    gated.release.set()
    results = await asyncio.gather(*runs)
    assert [result.reward for result in results] == [4.0, 4.0, 4.0]
    assert gated.max_in_flight == 2
    assert results[0].model_token_usage == {
        "ftapi/demo-tiny": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}
    }
