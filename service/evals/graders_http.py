"""Routes of ``/v1/fine_tuning/alpha/graders``: ``validate`` and ``run``, as the ``openai`` SDK's
``client.fine_tuning.alpha.graders`` calls them."""

from __future__ import annotations

from typing import TypeAlias

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from service.evals.grader_service import GraderService
from service.evals.graders_schemas import (
    GraderRun,
    GraderRunObject,
    GraderValidate,
    GraderValidateObject,
)
from service.http.dependencies import CallerDep

GradersDep: TypeAlias = NamedDependency[GraderService]


class GradersController(Controller):
    """Graders on their own, to try one before it grades an eval or a fine-tuning job."""

    path = "/fine_tuning/alpha/graders"
    tags = ("Graders",)

    @post("/validate", status_code=200, summary="Validate a grader")
    async def validate_grader(
        self, caller: CallerDep, graders: GradersDep, data: JSONBody[GraderValidate]
    ) -> GraderValidateObject:
        """Check a grader: its fields, template syntax, a ``multi`` formula, and that the
        project may call the models it asks. A refusal names the field in ``param``
        (``grader.calculate_output``)."""
        grader = await graders.validate(caller, data.grader)
        return GraderValidateObject(grader=grader.model_dump(exclude_none=True))

    @post("/run", status_code=200, summary="Run a grader")
    async def run_grader(
        self, caller: CallerDep, graders: GradersDep, data: JSONBody[GraderRun]
    ) -> GraderRunObject:
        """Grade ``model_sample`` for ``item``: the ``reward``, each sub-grader's reward
        (``multi``), OpenAI's ``metadata`` (error flags such as ``invalid_variable_error``,
        scores, execution time) and the tokens model graders spent, by model."""
        result = await graders.run(
            caller, data.grader, model_sample=data.model_sample, item=data.item
        )
        return GraderRunObject.of(result)
