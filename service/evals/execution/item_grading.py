"""One row of a run, start to end: its sample (the row's own, or the model's answer to the
rendered ``input_messages``), then every testing criterion's result, as one output item.

    the row ...                                        the item is
    ─────────────────────────────────────────────────  ─────────────────────────────────────────
    could not be read or breaks the schema             error; sample.error says why, no results
    could not be sampled (model gone, down, timeout)   error; sample.error says why, no results
    graded, a criterion could not grade (its model     error; that result's metadata.errors
      down or answering garbage, a missing variable)     says which
    graded, every criterion passed                     pass
    graded, some criterion failed                      fail

Nothing here fails the run: graders record per-sample problems in their metadata, model calls
raise ``GraderModelError`` (and have time limits), and anything else unexpected is logged and
recorded as ``internal_error`` on the item. Only outages of ftapi's own dependencies propagate,
so the task policy retries the run where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.evals.data_sources import RunDataSource
from service.evals.data_sources import SamplingParams as SourceSamplingParams
from service.evals.execution.prompts import PromptProblem, PromptTemplate
from service.evals.execution.samples import (
    answered_sample,
    failed_sample,
    given_sample,
    graded_sample_of,
)
from service.evals.execution.sources import SourceRow
from service.evals.execution.tally import result_errored
from service.evals.execution.work_store import NewOutputItem
from service.evals.model_calls import RunModels, SamplingParams
from service.evals.records import OutputItemStatus
from service.graders.config import GraderCapabilities, parse_grader
from service.graders.grading import GraderResult, passed, run_grader
from service.graders.model_client import Embeddings, GraderModelError, GraderModels
from service.graders.samples import GradedSample
from service.graders.shapes import Grader
from service.ids import IdPrefix, new_id
from service.queue.outages import is_outage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunCriterion:
    """A stored testing criterion, parsed: its grader and pass threshold."""

    grader: Grader
    pass_threshold: float | None


def parse_criteria(
    stored: Sequence[Mapping[str, Any]], capabilities: GraderCapabilities
) -> list[RunCriterion]:
    """The eval's criteria as stored (checked at create, so this does not refuse them)."""
    criteria = []
    for index, entry in enumerate(stored):
        fields = {key: value for key, value in entry.items() if key != "pass_threshold"}
        grader = parse_grader(fields, param=f"testing_criteria[{index}]", capabilities=capabilities)
        threshold = entry.get("pass_threshold")
        criteria.append(RunCriterion(grader, None if threshold is None else float(threshold)))
    return criteria


class CompletionSampler:
    """A completions run's sampling: the template rendered with the item, sent to the model."""

    def __init__(self, source: RunDataSource, models: RunModels, default_max_tokens: int) -> None:
        if source.model is None or source.input_messages is None:
            raise ValueError("a completions source has a model and input_messages")
        given = source.sampling_params or SourceSamplingParams()
        self.model = source.model
        self.params = SamplingParams(
            max_tokens=given.max_completion_tokens or default_max_tokens,
            temperature=given.temperature,
            top_p=given.top_p,
            seed=given.seed,
        )
        self._prompt = PromptTemplate(source.input_messages)
        self._models = models

    async def sample(
        self, item: Mapping[str, object]
    ) -> tuple[dict[str, Any], GradedSample | None]:
        """The stored sample and, when the model answered, what graders see of it."""
        try:
            messages = self._prompt.render(item)
        except PromptProblem as exc:
            return failed_sample("invalid_variable", str(exc), model=self.model), None
        try:
            answer = await self._models.sample(self.model, messages, self.params)
        except GraderModelError as exc:
            sample = failed_sample(
                "model_error", str(exc), model=self.model, messages=messages, params=self.params
            )
            return sample, None
        sample = answered_sample(self.model, messages, self.params, answer)
        return sample, GradedSample.of_text(answer.text)


class ItemGrader:
    """Turns rows into output items for one run."""

    def __init__(
        self,
        criteria: Sequence[RunCriterion],
        *,
        sampler: CompletionSampler | None,
        models: GraderModels,
        embeddings: Embeddings | None,
    ) -> None:
        self._criteria = criteria
        self._sampler = sampler
        self._models = models
        self._embeddings = embeddings

    async def grade(self, row: SourceRow) -> NewOutputItem:
        """The row's output item; raises only for outages."""
        try:
            return await self._grade(row)
        except Exception as exc:
            if is_outage(exc):
                raise
            logger.exception("grading an eval item failed", extra={"item": row.index})
            sample = failed_sample(
                "internal_error", "The item could not be graded; the operators have the log."
            )
            return _item(row, sample, (), OutputItemStatus.ERROR)

    async def _grade(self, row: SourceRow) -> NewOutputItem:
        if row.problem is not None:
            return _item(
                row, failed_sample("invalid_item", row.problem), (), OutputItemStatus.ERROR
            )
        graded: GradedSample | None
        if self._sampler is None:
            graded = graded_sample_of(row.sample)
            sample = given_sample(graded)
        else:
            sample, graded = await self._sampler.sample(row.item)
        if graded is None:
            return _item(row, sample, (), OutputItemStatus.ERROR)
        results = []
        for criterion in self._criteria:
            result = await run_grader(
                criterion.grader,
                item=row.item,
                sample=graded,
                models=self._models,
                embeddings=self._embeddings,
            )
            results.append(_result_of(criterion, result))
        return _item(row, sample, tuple(results), _status_of(results))


def _result_of(criterion: RunCriterion, result: GraderResult) -> dict[str, Any]:
    """One SDK ``Result`` (name, passed, score, type, sample) plus the grader's metadata,
    sub-rewards and model usage (what the run's ``per_model_usage`` is counted from)."""
    grader = criterion.grader
    ok = not result.has_error() and passed(grader, result.reward, criterion.pass_threshold)
    return {
        "name": grader.name,
        "type": grader.type,
        "passed": ok,
        "score": result.reward,
        "sample": None,
        "metadata": result.metadata,
        "sub_rewards": result.sub_rewards,
        # One call per model per criterion (a multi's sub-graders asking one model twice
        # are summed by the graders into one entry and counted once).
        "model_token_usage": {
            model: {"invocation_count": 1, **usage}
            for model, usage in result.model_token_usage.items()
        },
    }


def _status_of(results: Sequence[Mapping[str, object]]) -> OutputItemStatus:
    if any(result_errored(result) for result in results):
        return OutputItemStatus.ERROR
    if all(result["passed"] is True for result in results):
        return OutputItemStatus.PASS
    return OutputItemStatus.FAIL


def _item(
    row: SourceRow,
    sample: dict[str, Any],
    results: tuple[dict[str, Any], ...],
    status: OutputItemStatus,
) -> NewOutputItem:
    return NewOutputItem(
        id=new_id(IdPrefix.EVAL_OUTPUT_ITEM),
        datasource_item_id=row.index,
        datasource_item=row.item,
        sample=sample,
        results=results,
        status=status,
    )
