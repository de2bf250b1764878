"""Graders: pure functions that score a sample against an item, as OpenAI's graders do.

Used by the Evals API now, later by reinforcement fine-tuning and in-job evaluation. No HTTP,
no database, no queue: models are reached through the seams in ``model_client.py``.

- ``config.py``: ``parse_grader`` (400s naming the field), ``check_template_variables``,
  ``model_names``; ``shapes.py`` the SDK's grader shapes, ``checks.py`` what shapes cannot check,
  ``fields.py`` where templates sit, ``item_schema.py`` variables against an item schema
- ``grading.py``: ``run_grader`` (never raises for the data; errors go to the metadata),
  ``passed``; ``model_grading.py`` the graders that ask a model
- ``results.py``: ``GraderResult`` with OpenAI's metadata; ``samples.py``: ``GradedSample``
- ``templates.py``, ``formula.py``, ``metrics.py``, ``model_prompts.py``: the parts
- ``model_client.py``: the seams to grader and embedding models, and ``BoundedGraderModels``
- ``errors.py``: ``GraderInvalid``, ``GraderNotSupported``
"""

from service.graders.config import (
    Grader,
    GraderCapabilities,
    check_template_variables,
    model_names,
    parse_grader,
)
from service.graders.errors import GraderInvalid, GraderNotSupported
from service.graders.grading import default_pass_threshold, passed, run_grader
from service.graders.model_client import (
    BoundedGraderModels,
    Embeddings,
    GraderModelError,
    GraderModels,
    ModelAnswer,
)
from service.graders.results import GraderResult
from service.graders.samples import GradedSample

__all__ = [
    "BoundedGraderModels",
    "Embeddings",
    "GradedSample",
    "Grader",
    "GraderCapabilities",
    "GraderInvalid",
    "GraderModelError",
    "GraderModels",
    "GraderNotSupported",
    "GraderResult",
    "ModelAnswer",
    "check_template_variables",
    "default_pass_threshold",
    "model_names",
    "parse_grader",
    "passed",
    "run_grader",
]
