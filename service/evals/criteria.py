"""An eval's ``testing_criteria``, checked at create: each a grader the eval can run.

Each criterion is a grader (``service/graders``) plus its ``pass_threshold``, as OpenAI's
``EvalCreateParams`` define them:

    type              pass_threshold     passes when
    ────────────────  ─────────────────  ──────────────────────────────────────────────
    string_check      none               the check holds
    label_model       none               the model picks one of passing_labels
    text_similarity   required           the similarity reaches the threshold
    score_model       optional           the score reaches the threshold
    python            —                  400 grader_not_supported (see service/graders)
    multi             —                  400 grader_not_supported: OpenAI's evals have no
                                           multi criterion (it is a fine-tuning reward); its
                                           graders can be criteria of their own

Every template variable must exist where the criterion runs (``{{item.…}}`` in the item
schema, ``{{sample.…}}`` only with ``include_sample_schema``), and every model a grader asks
must be callable by the project. Criteria are stored as the SDK answers them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.errors import InvalidRequest
from service.evals.callable_models import CallableModels
from service.evals.item_schema import CustomConfig
from service.graders.config import (
    GraderCapabilities,
    check_template_variables,
    model_names,
    parse_grader,
)
from service.graders.errors import GraderNotSupported
from service.graders.shapes import Grader, MultiGrader

PARAM = "testing_criteria"
MAX_CRITERIA = 32
NO_THRESHOLD = ("string_check", "label_model")
THRESHOLD_REQUIRED = ("text_similarity",)


@dataclass(frozen=True)
class Criterion:
    """A checked testing criterion."""

    grader: Grader
    pass_threshold: float | None

    def as_answered(self) -> dict[str, Any]:
        """The stored and answered form (one of the SDK's ``TestingCriterion`` types)."""
        answered = self.grader.model_dump(exclude_none=True)
        if self.pass_threshold is not None:
            answered["pass_threshold"] = self.pass_threshold
        return answered


class CriteriaParser:
    """Parses testing criteria for a project."""

    def __init__(self, models: CallableModels, capabilities: GraderCapabilities) -> None:
        self._models = models
        self._capabilities = capabilities

    async def parse(self, project_id: str, raw: object, config: CustomConfig) -> list[Criterion]:
        """Every criterion of ``raw``; a 400 naming the first bad field otherwise."""
        if not isinstance(raw, list) or not raw:
            raise InvalidRequest("testing_criteria must list at least one grader.", param=PARAM)
        if len(raw) > MAX_CRITERIA:
            raise InvalidRequest(
                f"An eval has at most {MAX_CRITERIA} testing criteria.", param=PARAM
            )
        criteria: list[Criterion] = []
        names: set[str] = set()
        for index, entry in enumerate(raw):
            param = f"{PARAM}[{index}]"
            criterion = self._parse_one(entry, param, config)
            if criterion.grader.name in names:
                raise InvalidRequest(
                    f"Two testing criteria are named '{criterion.grader.name[:256]}'; a run "
                    "reports each criterion by its name.",
                    param=f"{param}.name",
                )
            names.add(criterion.grader.name)
            for model in sorted(model_names(criterion.grader)):
                await self._models.require(project_id, model, param=f"{param}.model", grader=True)
            criteria.append(criterion)
        return criteria

    def _parse_one(self, entry: object, param: str, config: CustomConfig) -> Criterion:
        if not isinstance(entry, Mapping):
            raise InvalidRequest(f"'{param}' must be a grader object.", param=param)
        kind = entry.get("type")
        threshold = _pass_threshold(entry, kind, param)
        grader_fields = {key: value for key, value in entry.items() if key != "pass_threshold"}
        grader = parse_grader(grader_fields, param=param, capabilities=self._capabilities)
        if isinstance(grader, MultiGrader):  # parsed first, so a bad formula is named as such
            raise GraderNotSupported(
                "OpenAI's evals have no multi testing criterion (a multi grader is a "
                "fine-tuning reward): add its graders as criteria of their own.",
                param=f"{param}.type",
            )
        check_template_variables(
            grader,
            param=param,
            item_schema=config.item_schema,
            sample_allowed=config.include_sample_schema,
        )
        return Criterion(grader, threshold)


def _pass_threshold(entry: Mapping[str, object], kind: object, param: str) -> float | None:
    where = f"{param}.pass_threshold"
    value = entry.get("pass_threshold")
    if value is None:
        if kind in THRESHOLD_REQUIRED:
            raise InvalidRequest(f"A {kind} criterion needs a pass_threshold.", param=where)
        return None
    if kind in NO_THRESHOLD:
        raise InvalidRequest(
            f"A {kind} criterion passes or fails by itself; it takes no pass_threshold.",
            param=where,
        )
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequest("pass_threshold must be a finite number.", param=where)
    return float(value)
