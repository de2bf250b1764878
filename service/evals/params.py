"""Request parts parsed by hand, with OpenAI's ``param`` paths in their errors.

Evals take polymorphic JSON (data sources, graders) whose errors must name the exact field the
way OpenAI does (``data_source.source.content[3].item``). Litestar would name the union's tag
instead (``data_source.jsonl.source…``), so those parts arrive as plain JSON and are parsed here:
``parse_part`` validates one shape and turns the first error into a 400 naming its path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from service.errors import InvalidRequest

ModelT = TypeVar("ModelT", bound=BaseModel)

# Pydantic's wording for the commonest errors, in the words OpenAI uses.
_MESSAGES = {
    "extra_forbidden": "Unknown parameter.",
    "missing": "Missing required parameter.",
}


def param_path(prefix: str, location: Sequence[int | str]) -> str:
    """``prefix`` followed by ``location``: keys as ``.key``, list positions as ``[n]``."""
    path = prefix
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def parse_part(model: type[ModelT], raw: object, *, param: str) -> ModelT:
    """``raw`` as ``model``; a 400 naming the first bad field under ``param`` otherwise."""
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"'{param}' must be an object.", param=param)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = param_path(param, first["loc"])
        message = _MESSAGES.get(first["type"], first["msg"])
        raise InvalidRequest(f"Invalid '{where}': {message}", param=where) from None


def type_of(raw: object, *, param: str, allowed: Sequence[str]) -> str:
    """The ``type`` of the object ``raw``, which must be one of ``allowed``."""
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"'{param}' must be an object.", param=param)
    kind = raw.get("type")
    if kind not in allowed:
        raise InvalidRequest(
            f"Invalid '{param}.type': expected one of {list(allowed)}, got {repr(kind)[:64]}.",
            param=f"{param}.type",
        )
    return str(kind)
