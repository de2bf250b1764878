"""Reading a grader from a request, and what callers may ask of a parsed one.

``parse_grader`` checks the shape (the SDK's fields, nothing else), then the meaning: template
syntax, a ``score_model``'s range and sampling, a ``label_model``'s labels, a ``multi``'s formula,
and what this ftapi can run. Every refusal is a ``GraderInvalid`` or ``GraderNotSupported`` whose
``param`` is the path of the bad field under the caller's prefix (``grader.range``,
``testing_criteria[2].graders.a.input``). ``check_template_variables`` adds what only the caller
knows: the item schema, and whether a sample exists where the grader runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from service.graders.checks import GraderCapabilities, check_meaning, parsed_template
from service.graders.errors import GraderInvalid, GraderNotSupported
from service.graders.fields import template_fields
from service.graders.item_schema import item_path_problem
from service.graders.shapes import (
    Grader,
    LabelModelGrader,
    MultiGrader,
    PythonGrader,
    ScoreModelGrader,
    SingleGrader,
    StringCheckGrader,
    TextSimilarityGrader,
)

__all__ = [
    "PYTHON_NOT_SUPPORTED",
    "Grader",
    "GraderCapabilities",
    "LabelModelGrader",
    "MultiGrader",
    "PythonGrader",
    "ScoreModelGrader",
    "SingleGrader",
    "StringCheckGrader",
    "TextSimilarityGrader",
    "check_template_variables",
    "model_names",
    "parse_grader",
    "template_fields",
]

PYTHON_NOT_SUPPORTED = (
    "python graders are not supported: ftapi cannot yet run user code with real isolation "
    "(a separate process with CPU, memory and time limits, no network, no file system beyond a "
    "scratch directory, and nothing of the service reachable). Use string_check, "
    "text_similarity, score_model, label_model or multi instead."
)

_SINGLE_SHAPES: Mapping[
    str, type[StringCheckGrader | TextSimilarityGrader | ScoreModelGrader | LabelModelGrader]
] = {
    "string_check": StringCheckGrader,
    "text_similarity": TextSimilarityGrader,
    "score_model": ScoreModelGrader,
    "label_model": LabelModelGrader,
}
_ShapeT = TypeVar("_ShapeT", bound=BaseModel)
_ALL_TYPES = ", ".join([*_SINGLE_SHAPES, "multi", "python"])


def parse_grader(raw: object, *, param: str = "grader", capabilities: GraderCapabilities) -> Grader:
    """The grader ``raw`` describes; raises GraderInvalid / GraderNotSupported naming the field."""
    grader = _parse_shape(raw, param, inside_multi=False)
    check_meaning(grader, param, capabilities)
    return grader


def check_template_variables(
    grader: Grader,
    *,
    param: str,
    item_schema: Mapping[str, object] | None,
    sample_allowed: bool,
) -> None:
    """Refuse variables that cannot exist where the grader runs.

    ``{{item.a.b}}`` must be a property path of ``item_schema`` (when one is given), and
    ``{{sample.…}}`` needs ``sample_allowed``. Parts of a schema that do not constrain their
    children (no ``type``, ``anyOf``/``$ref`` and the like) accept any path below them.
    """
    for path, text in template_fields(grader):
        where = f"{param}.{path}"
        for variable in parsed_template(text, where).variables:
            if variable.namespace == "sample" and not sample_allowed:
                raise GraderInvalid(
                    f"'{where}' uses {{{{ {variable} }}}}, but there is no sample here: "
                    "use item variables only, or a data source that samples a model",
                    param=where,
                )
            if variable.namespace == "item" and item_schema is not None:
                problem = item_path_problem(item_schema, variable)
                if problem is not None:
                    raise GraderInvalid(
                        f"'{where}' uses {{{{ {variable} }}}}: {problem}", param=where
                    )


def model_names(grader: Grader) -> set[str]:
    """The models a grader asks (``score_model``/``label_model``, inside ``multi`` too)."""
    if isinstance(grader, MultiGrader):
        return {name for sub in grader.sub_graders().values() for name in model_names(sub)}
    if isinstance(grader, ScoreModelGrader | LabelModelGrader):
        return {grader.model}
    return set()


# -- shape ----------------------------------------------------------------------------------------


def _parse_shape(raw: object, param: str, *, inside_multi: bool) -> Grader:
    if not isinstance(raw, Mapping):
        raise GraderInvalid(f"'{param}' must be an object with a 'type'", param=param)
    kind = raw.get("type")
    if kind == "python":
        raise GraderNotSupported(PYTHON_NOT_SUPPORTED, param=f"{param}.type")
    if kind == "multi":
        if inside_multi:
            raise GraderInvalid(
                f"'{param}.type': a multi grader cannot contain another multi grader",
                param=f"{param}.type",
            )
        return _parse_multi(raw, param)
    shape = _SINGLE_SHAPES.get(kind) if isinstance(kind, str) else None
    if shape is None:
        raise GraderInvalid(
            f"'{param}.type' must be one of {_ALL_TYPES}, not {kind!r}", param=f"{param}.type"
        )
    return _validate(shape, raw, param)


def _parse_multi(raw: Mapping[object, object], param: str) -> MultiGrader:
    graders = raw.get("graders")
    parsed: object
    if isinstance(graders, Mapping) and isinstance(graders.get("type"), str):
        parsed = _parse_shape(graders, f"{param}.graders", inside_multi=True)
    elif isinstance(graders, Mapping) and graders:
        parsed = {
            str(key): _parse_shape(sub, f"{param}.graders.{key}", inside_multi=True)
            for key, sub in graders.items()
        }
    else:
        raise GraderInvalid(
            f"'{param}.graders' must be a grader, or an object mapping names to graders",
            param=f"{param}.graders",
        )
    return _validate(MultiGrader, {**raw, "graders": parsed}, param)


def _validate(shape: type[_ShapeT], raw: Mapping[object, object], param: str) -> _ShapeT:
    try:
        return shape.model_validate(dict(raw))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = param + "".join(
            f"[{step}]" if isinstance(step, int) else f".{step}" for step in error["loc"]
        )
        message = str(error["msg"]).removeprefix("Value error, ")
        raise GraderInvalid(f"Invalid '{where}': {message}", param=where) from None
