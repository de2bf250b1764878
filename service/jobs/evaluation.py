"""In-job evaluation and early stopping (ftapi extensions of a job), as the jobs domain holds
them.

A job with a ``validation_file`` is evaluated by generation: before training (the base), at
every checkpoint and at the end (the tuned model), a seeded sample of validation prompts is
answered greedily and graded against the reference answers (``gpu_runner.training.
generation_eval``). The graders are ``DEFAULT_EVAL_GRADERS`` unless the job names its own
(``eval_graders``, the #13 grader shapes). Each grader's mean reward is the metric
``valid_<name>`` (``metric_key``).

Forgetting: a base model whose registry entry names a ``reference_set`` (chat examples of
what the base can do) has base and tuned model answer a seeded sample of it the same way, graded
by ``DEFAULT_EVAL_GRADERS`` whatever the job's graders (they are written for the job's data);
``forgetting`` is base minus tuned per metric, a warning above ``FORGETTING_WARN_DROP``.

Early stopping (``early_stopping: {patience, metric}``) ends training once ``metric`` has not
improved for ``patience`` evaluations in a row; ``valid_loss`` by default, lower is better for
losses, higher for everything else. The same metric picks the job's best checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.errors import InvalidRequest
from service.graders import (
    GraderCapabilities,
    GraderNotSupported,
    check_template_variables,
    model_names,
    parse_grader,
)
from service.graders.errors import GraderInvalid

MAX_EVAL_GRADERS = 4
DEFAULT_SELECTION_METRIC = "valid_loss"
# Metrics every job with a validation file reports, besides the graders' ones.
LOSS_METRICS = ("valid_loss", "valid_mean_token_accuracy")
# What a grader's templates may read: ``item.*`` here, ``sample.output_text`` / ``output_json``.
EVAL_ITEM_SCHEMA: Mapping[str, object] = {
    "type": "object",
    "properties": {"reference": {"type": "string"}, "prompt": {"type": "string"}},
}
DEFAULT_EVAL_GRADERS: tuple[dict[str, Any], ...] = (
    {
        "type": "string_check",
        "name": "exact_match",
        "input": "{{sample.output_text}}",
        "reference": "{{item.reference}}",
        "operation": "eq",
    },
    {
        "type": "text_similarity",
        "name": "similarity",
        "input": "{{sample.output_text}}",
        "reference": "{{item.reference}}",
        "evaluation_metric": "fuzzy_match",
    },
)
_IN_JOB_CAPABILITIES = GraderCapabilities(embeddings=False)
# Forgetting: a drop of any reference-set metric (base minus tuned) above this is a warning.
FORGETTING_WARN_DROP = 0.1


def forgetting(base: Mapping[str, float], tuned: Mapping[str, float]) -> dict[str, float]:
    """Per reference-set metric the base and tuned model both have: base minus tuned (positive:
    the tuned model lost that much of what the base could do)."""
    return {key: round(base[key] - value, 4) for key, value in tuned.items() if key in base}


@dataclass(frozen=True)
class EarlyStopping:
    """Stop once ``metric`` has not improved for ``patience`` evaluations."""

    patience: int
    metric: str = DEFAULT_SELECTION_METRIC


@dataclass(frozen=True)
class JobEvaluation:
    """What a job asked of its evaluation: graders (None: the defaults) and early stopping."""

    graders: tuple[dict[str, Any], ...] | None = None
    early_stopping: EarlyStopping | None = None

    def grader_configs(self) -> tuple[dict[str, Any], ...]:
        """The graders the job's evaluation runs."""
        return self.graders if self.graders is not None else DEFAULT_EVAL_GRADERS

    @property
    def selection_metric(self) -> str:
        """The metric that picks the best checkpoint (and early stopping watches)."""
        return (
            self.early_stopping.metric
            if self.early_stopping is not None
            else DEFAULT_SELECTION_METRIC
        )

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "graders": None if self.graders is None else list(self.graders),
            "early_stopping": None
            if self.early_stopping is None
            else {"patience": self.early_stopping.patience, "metric": self.early_stopping.metric},
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> JobEvaluation:
        """Read the stored form back."""
        graders = stored.get("graders")
        early = stored.get("early_stopping")
        return cls(
            graders=None if graders is None else tuple(graders),
            early_stopping=None if early is None else EarlyStopping(**early),
        )


def metric_key(grader_name: str, prefix: str = "valid_") -> str:
    """The metric a grader's mean reward is reported as: ``prefix`` (``valid_`` for the
    validation eval, none for the reference set's) + its name in snake case."""
    slug = re.sub(r"[^a-z0-9]+", "_", grader_name.lower()).strip("_")
    return f"{prefix}{slug or 'grader'}"


def lower_is_better(metric: str) -> bool:
    """Losses go down as a model improves; accuracies and grader rewards go up."""
    return metric.endswith("loss")


def improves(metric: str, value: float, best: float | None) -> bool:
    """Whether ``value`` of ``metric`` is strictly better than ``best``."""
    if best is None:
        return True
    return value < best if lower_is_better(metric) else value > best


def best_step(checkpoints: Iterable[tuple[int, Mapping[str, float]]], metric: str) -> int | None:
    """The step of the checkpoint with the best ``metric`` (the earliest among equals); None
    when no checkpoint has it."""
    best: tuple[int, float] | None = None
    for step, metrics in sorted(checkpoints):
        value = metrics.get(metric)
        if value is not None and improves(metric, value, None if best is None else best[1]):
            best = (step, value)
    return None if best is None else best[0]


def parse_job_evaluation(
    graders: Sequence[object] | None,
    early_stopping: EarlyStopping | None,
    *,
    has_validation_file: bool,
    generates: bool = True,
) -> JobEvaluation | None:
    """The evaluation a create request asks for; None when it asks nothing of it.

    ``generates``: the job's method is evaluated by generation (supervised; a DPO job has only
    its validation losses). Raises ``InvalidRequest`` (a 400 naming the field) for graders that
    are not valid #13 graders, that this evaluation cannot run (model graders, python, cosine),
    or whose metric names collide; for graders on a job that does not generate; and for options
    that need a validation file without one.
    """
    if graders is None and early_stopping is None:
        return None
    if not has_validation_file:
        param = "eval_graders" if graders is not None else "early_stopping"
        raise InvalidRequest(
            f"'{param}' needs a validation_file: the job is evaluated on validation examples.",
            param=param,
        )
    if graders is not None and not generates:
        raise InvalidRequest(
            "'eval_graders' grade generated answers, which only supervised jobs are evaluated "
            "by; a DPO job reports its validation losses",
            param="eval_graders",
        )
    configs = None if graders is None else _checked_graders(graders)
    evaluation = JobEvaluation(configs, early_stopping)
    if early_stopping is not None:
        graded = evaluation.grader_configs() if generates else ()
        known = [*LOSS_METRICS, *(metric_key(str(g["name"])) for g in graded)]
        if early_stopping.metric not in known:
            raise InvalidRequest(
                f"'early_stopping.metric' must be one of {', '.join(known)}, not "
                f"{early_stopping.metric!r}",
                param="early_stopping.metric",
            )
    return evaluation


def _checked_graders(graders: Sequence[object]) -> tuple[dict[str, Any], ...]:
    if not graders:
        raise InvalidRequest("'eval_graders' needs at least one grader", param="eval_graders")
    if len(graders) > MAX_EVAL_GRADERS:
        raise InvalidRequest(
            f"'eval_graders' takes at most {MAX_EVAL_GRADERS} graders", param="eval_graders"
        )
    checked: list[dict[str, Any]] = []
    keys: set[str] = set()
    for i, raw in enumerate(graders):
        param = f"eval_graders[{i}]"
        grader = parse_grader(raw, param=param, capabilities=_IN_JOB_CAPABILITIES)
        if model_names(grader):
            raise GraderNotSupported(
                "in-job evaluation runs string_check and text_similarity graders (and multi "
                "graders of them); model graders are for the Evals API",
                param=f"{param}.type",
            )
        check_template_variables(
            grader, param=param, item_schema=EVAL_ITEM_SCHEMA, sample_allowed=True
        )
        key = metric_key(grader.name)
        if key in keys or key in LOSS_METRICS:
            raise GraderInvalid(
                f"'{param}.name': {grader.name!r} would report as {key!r}, which another metric "
                "of the job already is; give each grader its own name",
                param=f"{param}.name",
            )
        keys.add(key)
        if isinstance(raw, Mapping):  # parse_grader refused anything else
            checked.append({str(k): v for k, v in raw.items()})
    return tuple(checked)
