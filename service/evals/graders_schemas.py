"""HTTP shapes of ``/v1/fine_tuning/alpha/graders``: the ``openai`` SDK's
``GraderValidateParams``/``GraderRunParams`` and their responses (strict-SDK compatible)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from service.graders.results import GraderResult
from service.http.schemas import InputModel

GRADER_DESCRIPTION = (
    "A grader: `string_check`, `text_similarity`, `score_model`, `label_model` or `multi` "
    "(`python` answers 400 `grader_not_supported`)."
)


class GraderValidate(InputModel):
    """``POST /v1/fine_tuning/alpha/graders/validate``."""

    grader: dict[str, Any] = Field(description=GRADER_DESCRIPTION)


class GraderRun(InputModel):
    """``POST /v1/fine_tuning/alpha/graders/run``."""

    grader: dict[str, Any] = Field(description=GRADER_DESCRIPTION)
    model_sample: str = Field(
        description="The sample as `sample.output_text` (and `sample.output_json` when it is JSON)."
    )
    item: Any = Field(default=None, description="The `item` namespace: a JSON object.")


class GraderValidateObject(BaseModel):
    """The checked grader, as ftapi will run it."""

    grader: dict[str, Any]


class GraderRunObject(BaseModel):
    """A grader's reward for one sample, with OpenAI's metadata (error flags, scores, time)."""

    reward: float
    sub_rewards: dict[str, Any]
    metadata: dict[str, Any]
    model_grader_token_usage_per_model: dict[str, Any]

    @classmethod
    def of(cls, result: GraderResult) -> GraderRunObject:
        """The wire shape of a grader result."""
        return cls(
            reward=result.reward,
            sub_rewards=dict(result.sub_rewards),
            metadata=dict(result.metadata),
            model_grader_token_usage_per_model=dict(result.model_token_usage),
        )
