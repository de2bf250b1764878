"""Running a grader over one sample and one item.

``run_grader`` never raises for anything about the sample, the item, a template or a grader
model: each problem sets its flag in the result's metadata (OpenAI's names) and the reward is 0.

=============================  ==================================================================
flag                           set when
=============================  ==================================================================
invalid_variable_error         a template names a variable the item or sample lacks
formula_parse_error            a ``multi`` formula cannot be computed (division by zero, log(0))
model_grader_server_error      the grader or embedding model failed (+ ``…_details``), or none
                               is configured
model_grader_parse_error       a score that is no number or out of range, or no known label
python_grader_server_error     a ``python`` grader reached a run (``…_type``: not_supported)
other_error                    anything else (a bug: logged with its traceback)
=============================  ==================================================================

A ``multi`` grader runs its sub-graders concurrently; any sub-grader's error is the multi's error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from service.graders.formula import FormulaError, evaluate, parse_formula
from service.graders.metrics import text_similarity
from service.graders.model_client import Embeddings, GraderModels
from service.graders.model_grading import cosine, label_model, score_model
from service.graders.results import ErrorFlags, GraderResult, Outcome, add_usage
from service.graders.samples import GradedSample
from service.graders.shapes import (
    Grader,
    LabelModelGrader,
    MultiGrader,
    PythonGrader,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
)
from service.graders.templates import TemplateSyntaxError, UnknownVariable, parse_template

__all__ = ["GraderResult", "default_pass_threshold", "passed", "run_grader"]

logger = logging.getLogger(__name__)


async def run_grader(
    grader: Grader,
    *,
    item: Mapping[str, object],
    sample: GradedSample,
    models: GraderModels | None,
    embeddings: Embeddings | None,
) -> GraderResult:
    """Grade ``sample`` for ``item``; see the module docstring for what is never raised."""
    started = time.perf_counter()
    seams = _Seams(models, embeddings)
    outcome = await _grade_safely(grader, {"item": item, "sample": sample.namespace()}, seams)
    return GraderResult.of(
        outcome,
        name=grader.name,
        grader_type=grader.type,
        execution_time_s=time.perf_counter() - started,
    )


def passed(grader: Grader, reward: float, pass_threshold: float | None) -> bool:
    """Whether ``reward`` passes. Ask only for results without errors (those never pass).

    ``string_check`` passes at 1 and ``label_model`` when it chose a passing label (reward 1);
    the others at ``reward >= pass_threshold``, by default ``default_pass_threshold(grader)``.
    """
    if isinstance(grader, StringCheckGrader | LabelModelGrader):
        return reward == 1.0
    threshold = pass_threshold if pass_threshold is not None else default_pass_threshold(grader)
    return reward >= threshold


def default_pass_threshold(grader: Grader) -> float:
    """The middle of the grader's range: ``score_model`` its ``range`` (default [0, 1] → 0.5);
    ``text_similarity``, ``multi`` and ``python`` 0.5, the middle of the usual [0, 1]."""
    if isinstance(grader, ScoreModelGrader):
        low, high = grader.score_range
        return (low + high) / 2
    return 0.5


@dataclass(frozen=True)
class _Seams:
    models: GraderModels | None
    embeddings: Embeddings | None


async def _grade_safely(grader: Grader, namespaces: Mapping[str, object], seams: _Seams) -> Outcome:
    try:
        return await _grade(grader, namespaces, seams)
    except (UnknownVariable, TemplateSyntaxError):
        return Outcome(errors=ErrorFlags(invalid_variable_error=True))
    except Exception:
        logger.exception("grader %r (%s) failed unexpectedly", grader.name, grader.type)
        return Outcome(errors=ErrorFlags(other_error=True))


async def _grade(grader: Grader, namespaces: Mapping[str, object], seams: _Seams) -> Outcome:
    if isinstance(grader, StringCheckGrader):
        return _string_check(grader, namespaces)
    if isinstance(grader, TextSimilarityGrader):
        return await _text_similarity(grader, namespaces, seams)
    if isinstance(grader, ScoreModelGrader):
        return await score_model(grader, namespaces, seams.models)
    if isinstance(grader, LabelModelGrader):
        return await label_model(grader, namespaces, seams.models)
    if isinstance(grader, MultiGrader):
        return await _multi(grader, namespaces, seams)
    if isinstance(grader, PythonGrader):
        return Outcome(
            errors=ErrorFlags(
                python_grader_server_error=True, python_grader_server_error_type="not_supported"
            )
        )
    raise TypeError(f"not a grader: {grader!r}")


def _render(template: str, namespaces: Mapping[str, object]) -> str:
    return parse_template(template).render(namespaces)


def _string_check(grader: StringCheckGrader, namespaces: Mapping[str, object]) -> Outcome:
    text = _render(grader.input, namespaces)
    reference = _render(grader.reference, namespaces)
    if grader.operation == "eq":
        matched = text == reference
    elif grader.operation == "ne":
        matched = text != reference
    elif grader.operation == "like":
        matched = reference in text
    else:
        matched = reference.casefold() in text.casefold()
    return Outcome(reward=1.0 if matched else 0.0)


async def _text_similarity(
    grader: TextSimilarityGrader, namespaces: Mapping[str, object], seams: _Seams
) -> Outcome:
    text = _render(grader.input, namespaces)
    reference = _render(grader.reference, namespaces)
    if grader.evaluation_metric == "cosine":
        return await cosine(text, reference, seams.embeddings)
    # Off the event loop: long texts cost real CPU, and nltk's first import costs seconds.
    score = await asyncio.to_thread(text_similarity, grader.evaluation_metric, text, reference)
    return Outcome(reward=score)


async def _multi(grader: MultiGrader, namespaces: Mapping[str, object], seams: _Seams) -> Outcome:
    subs = grader.sub_graders()
    outcomes = dict(
        zip(
            subs,
            await asyncio.gather(*(_grade_safely(sub, namespaces, seams) for sub in subs.values())),
            strict=True,
        )
    )
    sub_rewards = {
        name: 0.0 if outcome.errors.any() else outcome.reward for name, outcome in outcomes.items()
    }
    errors = ErrorFlags.merged([outcome.errors for outcome in outcomes.values()])
    usage = add_usage(*(outcome.usage for outcome in outcomes.values()))
    reward = 0.0
    if not errors.any():
        try:
            reward = evaluate(parse_formula(grader.calculate_output, sub_graders=subs), sub_rewards)
        except FormulaError:
            errors = ErrorFlags(formula_parse_error=True)
    return Outcome(
        reward=reward, errors=errors, sub_rewards=sub_rewards, scores=dict(sub_rewards), usage=usage
    )
