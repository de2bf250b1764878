"""What a grader's shape alone cannot check: ``parse_grader`` runs these after the shape.

Template syntax in every templated field; a ``score_model``'s range and sampling; a
``label_model``'s labels (``passing_labels`` within ``labels``); a ``multi``'s formula over its
sub-graders' names; and what this ftapi cannot run (images and audio in model graders, ``cosine``
without an embedding model). Each refusal names its field under the caller's ``param``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.graders.errors import GraderInvalid, GraderNotSupported
from service.graders.fields import sub_graders_by_path, template_fields
from service.graders.formula import FormulaError, parse_formula
from service.graders.shapes import (
    Grader,
    InputAudio,
    InputImage,
    LabelModelGrader,
    MultiGrader,
    ScoreModelGrader,
    TextSimilarityGrader,
)
from service.graders.templates import Template, TemplateSyntaxError, parse_template


@dataclass(frozen=True)
class GraderCapabilities:
    """What this deployment can run; ``embeddings``: an embedding model exists for ``cosine``."""

    embeddings: bool


def check_meaning(grader: Grader, param: str, capabilities: GraderCapabilities) -> None:
    """Refuse what the shape allows but the grader cannot mean or this ftapi cannot run."""
    for path, text in template_fields(grader):
        parsed_template(text, f"{param}.{path}")
    if isinstance(grader, TextSimilarityGrader):
        if grader.evaluation_metric == "cosine" and not capabilities.embeddings:
            raise GraderNotSupported(
                "the cosine metric needs an embedding model, and this ftapi has none configured; "
                "an operator can configure one, or use another evaluation_metric",
                param=f"{param}.evaluation_metric",
            )
    elif isinstance(grader, ScoreModelGrader):
        _check_model_input(grader, param)
        _check_range(grader, param)
        _check_sampling(grader, param)
    elif isinstance(grader, LabelModelGrader):
        _check_model_input(grader, param)
        _check_labels(grader, param)
    elif isinstance(grader, MultiGrader):
        for prefix, sub in sub_graders_by_path(grader):
            check_meaning(sub, f"{param}.{prefix}", capabilities)
        try:
            parse_formula(grader.calculate_output, sub_graders=grader.sub_graders())
        except FormulaError as exc:
            raise GraderInvalid(
                f"Invalid '{param}.calculate_output': {exc}", param=f"{param}.calculate_output"
            ) from None


def parsed_template(text: str, where: str) -> Template:
    """The parsed template, or GraderInvalid naming ``where``."""
    try:
        return parse_template(text)
    except TemplateSyntaxError as exc:
        raise GraderInvalid(f"Invalid template in '{where}': {exc}", param=where) from None


def _check_model_input(grader: ScoreModelGrader | LabelModelGrader, param: str) -> None:
    if not grader.model.strip():
        raise GraderInvalid(f"'{param}.model' must name a model", param=f"{param}.model")
    if not grader.input:
        raise GraderInvalid(f"'{param}.input' needs at least one message", param=f"{param}.input")
    for i, message in enumerate(grader.input):
        for j, part in enumerate(message.parts()):
            if isinstance(part, InputImage | InputAudio):
                where = f"{param}.input[{i}].content" + (
                    f"[{j}]" if isinstance(message.content, list) else ""
                )
                raise GraderNotSupported(
                    f"'{where}' is an {part.type} part; ftapi's grader models read text only",
                    param=where,
                )


def _check_range(grader: ScoreModelGrader, param: str) -> None:
    if grader.range is None:
        return
    where = f"{param}.range"
    if len(grader.range) != 2 or not all(math.isfinite(bound) for bound in grader.range):
        raise GraderInvalid(f"'{where}' must be two finite numbers [low, high]", param=where)
    low, high = grader.range
    if not low < high:
        raise GraderInvalid(f"'{where}' must have its low bound below its high bound", param=where)


def _check_sampling(grader: ScoreModelGrader, param: str) -> None:
    sampling = grader.sampling_params
    if sampling is None:
        return
    where = f"{param}.sampling_params"
    if sampling.max_completions_tokens is not None and sampling.max_completions_tokens < 1:
        raise GraderInvalid(
            f"'{where}.max_completions_tokens' must be at least 1",
            param=f"{where}.max_completions_tokens",
        )
    if sampling.temperature is not None and not 0 <= sampling.temperature <= 2:
        raise GraderInvalid(
            f"'{where}.temperature' must be between 0 and 2", param=f"{where}.temperature"
        )
    if sampling.top_p is not None and not 0 < sampling.top_p <= 1:
        raise GraderInvalid(f"'{where}.top_p' must be in (0, 1]", param=f"{where}.top_p")


def _check_labels(grader: LabelModelGrader, param: str) -> None:
    if not grader.labels or any(not label.strip() for label in grader.labels):
        raise GraderInvalid(
            f"'{param}.labels' must list at least one non-empty label", param=f"{param}.labels"
        )
    if len(set(grader.labels)) != len(grader.labels):
        raise GraderInvalid(f"'{param}.labels' lists a label twice", param=f"{param}.labels")
    if not grader.passing_labels:
        raise GraderInvalid(
            f"'{param}.passing_labels' must list at least one label",
            param=f"{param}.passing_labels",
        )
    unknown = [label for label in grader.passing_labels if label not in grader.labels]
    if unknown:
        raise GraderInvalid(
            f"'{param}.passing_labels' must be a subset of labels; not in labels: "
            + ", ".join(repr(label) for label in unknown),
            param=f"{param}.passing_labels",
        )
