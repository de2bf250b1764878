"""What graders hand out matches the pinned openai SDK's own types, in strict mode."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.fine_tuning.alpha.grader_run_response import (
    GraderRunResponse,
    Metadata,
    MetadataErrors,
)
from openai.types.graders import (
    LabelModelGrader,
    MultiGrader,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
)
from pydantic import BaseModel

from service.graders import GraderModelError, GraderResult
from tests.unit.graders.fakes import FixedEmbeddings, ScriptedModels
from tests.unit.graders.helpers import grade, grader, string_check

SCORE: dict[str, Any] = {
    "type": "score_model",
    "name": "judge",
    "model": "ftapi/demo-tiny",
    "input": [
        {"role": "system", "content": "Grade strictly.", "type": "message"},
        {
            "role": "user",
            "content": [
                "Answer:",
                {"type": "input_text", "text": "{{sample.output_text}}"},
                {"type": "output_text", "text": "{{item.answer}}"},
            ],
        },
    ],
    "range": [0, 10],
    "sampling_params": {"temperature": 0.0, "seed": 1, "reasoning_effort": "low"},
}
LABEL: dict[str, Any] = {
    "type": "label_model",
    "name": "label",
    "model": "ftapi/demo-tiny",
    "input": [{"role": "user", "content": "{{sample.output_text}}"}],
    "labels": ["yes", "no"],
    "passing_labels": ["yes"],
}
SIMILARITY: dict[str, Any] = {
    "type": "text_similarity",
    "name": "sim",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "evaluation_metric": "bleu",
}
MULTI: dict[str, Any] = {
    "type": "multi",
    "name": "m",
    "calculate_output": "sim * 2",
    "graders": SIMILARITY,
}


@pytest.mark.parametrize(
    ("raw", "sdk_type"),
    [
        (string_check("{{sample.output_text}}", "{{item.answer}}", "ilike"), StringCheckGrader),
        (SIMILARITY, TextSimilarityGrader),
        (SCORE, ScoreModelGrader),
        (LABEL, LabelModelGrader),
        (MULTI, MultiGrader),
    ],
)
def test_a_parsed_grader_dumps_as_the_sdk_type(
    raw: dict[str, Any], sdk_type: type[BaseModel]
) -> None:
    dumped = grader(raw).model_dump()
    assert sdk_type.model_validate(dumped, strict=True).model_dump() == dumped
    assert grader(dumped) == grader(raw)  # a stored grader reads back the same


def _check_metadata(result: GraderResult) -> None:
    Metadata.model_validate(result.metadata, strict=True)
    GraderRunResponse.model_validate(
        {
            "reward": result.reward,
            "sub_rewards": result.sub_rewards,
            "metadata": result.metadata,
            "model_grader_token_usage_per_model": result.model_token_usage,
        },
        strict=True,
    )
    errors = result.metadata["errors"]
    assert isinstance(errors, dict)
    wire_names = {field.alias or name for name, field in MetadataErrors.model_fields.items()}
    assert set(errors) == wire_names  # every flag, under its wire name


async def test_metadata_of_every_grader_type_and_error_is_the_sdk_shape() -> None:
    item = {"answer": "yes"}
    results = [
        await grade(
            string_check("{{sample.output_text}}", "{{item.answer}}"), item=item, output="yes"
        ),
        await grade(string_check("{{item.nope}}", "x"), item=item),
        await grade(SIMILARITY, item=item, output="yes"),
        await grade(
            {**SIMILARITY, "evaluation_metric": "cosine"},
            item=item,
            output="yes",
            embeddings=FixedEmbeddings({"yes": [1.0, 0.0]}),
        ),
        await grade(SCORE, item=item, output="yes", models=ScriptedModels('{"result": 9}')),
        await grade(SCORE, item=item, output="yes", models=ScriptedModels("eleven")),
        await grade(
            SCORE, item=item, output="yes", models=ScriptedModels(GraderModelError("down"))
        ),
        await grade(LABEL, item=item, output="yes", models=ScriptedModels("yes")),
        await grade(MULTI, item=item, output="yes"),
        await grade({**MULTI, "calculate_output": "sim / 0"}, item=item, output="yes"),
    ]
    for result in results:
        _check_metadata(result)
    with_errors = [result.has_error() for result in results]
    assert with_errors == [False, True, False, False, False, True, True, False, False, True]
    assert results[4].metadata["sampled_model_name"] == "ftapi/demo-tiny"
    assert results[0].metadata["token_usage"] is None
