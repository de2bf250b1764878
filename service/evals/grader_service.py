"""Graders on their own: check one (``validate``) or grade one sample with it (``run``), as
``client.fine_tuning.alpha.graders`` does. Model graders ask their models as the caller's
project (``model_calls.py``); every model they name must be callable by it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from service.auth.caller import Caller
from service.errors import InvalidRequest
from service.evals.callable_models import CallableModels
from service.evals.model_calls import ModelCalls
from service.graders.config import GraderCapabilities, parse_grader
from service.graders.grading import run_grader
from service.graders.model_client import Embeddings
from service.graders.results import GraderResult
from service.graders.samples import GradedSample
from service.graders.shapes import Grader, LabelModelGrader, MultiGrader, ScoreModelGrader

PARAM = "grader"


class GraderService:
    """Validates and runs single graders for a caller."""

    def __init__(
        self, models: CallableModels, calls: ModelCalls, embeddings: Embeddings | None
    ) -> None:
        self._models = models
        self._calls = calls
        self._embeddings = embeddings
        self.capabilities = GraderCapabilities(embeddings=embeddings is not None)

    async def validate(self, caller: Caller, raw: object) -> Grader:
        """The grader ``raw`` describes; a 400 naming the bad field otherwise."""
        grader = parse_grader(raw, param=PARAM, capabilities=self.capabilities)
        for param, model in _models_by_param(grader, PARAM):
            await self._models.require(caller.project_id, model, param=param, grader=True)
        return grader

    async def run(
        self, caller: Caller, raw: object, *, model_sample: str, item: object
    ) -> GraderResult:
        """Grade ``model_sample`` for ``item`` (an object, or nothing). Problems with the sample,
        the item or a grader model are flags in the result's metadata, not errors."""
        grader = await self.validate(caller, raw)
        if item is None:
            item = {}
        if not isinstance(item, Mapping):
            raise InvalidRequest("item must be a JSON object.", param="item")
        return await run_grader(
            grader,
            item=item,
            sample=GradedSample.of_text(model_sample),
            models=self._calls.for_caller(caller),
            embeddings=self._embeddings,
        )


def _models_by_param(grader: Grader, param: str) -> Iterator[tuple[str, str]]:
    """Each model a grader asks, with the path of the field that names it."""
    if isinstance(grader, ScoreModelGrader | LabelModelGrader):
        yield f"{param}.model", grader.model
    elif isinstance(grader, MultiGrader):
        if isinstance(grader.graders, dict):
            for key, sub in grader.graders.items():
                yield from _models_by_param(sub, f"{param}.graders.{key}")
        else:
            yield from _models_by_param(grader.graders, f"{param}.graders")
