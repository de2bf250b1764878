"""An eval's ``data_source_config``: the JSON schema its items (and samples) must follow.

Only ``custom`` configs exist in ftapi: ``logs`` and ``stored_completions`` select stored
chat completions, and ftapi stores none, so they answer 400 ``unsupported_data_source``.

A config is answered as OpenAI answers it: ``{"type": "custom", "schema": {…}}``, one object
schema with an ``item`` property (the caller's ``item_schema``) and, with
``include_sample_schema``, a ``sample`` property (``SAMPLE_SCHEMA``: what a completions run
samples, or what a JSONL row's ``sample`` gives). ``ItemSchema`` checks items against it with
``jsonschema``; references are resolved only inside the schema itself (nothing is fetched),
and ``pattern``/``patternProperties`` are refused: a caller's regular expression run by Python's
backtracking ``re`` could hold the api's event loop for as long as it likes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from service.errors import InvalidRequest
from service.evals.params import type_of

PARAM = "data_source_config"
MAX_MESSAGE_CHARS = 300
UNSUPPORTED_CONFIGS = ("logs", "stored_completions")

# What ``{{sample.…}}`` may name: the sampled answer, as text and, when it parses, as JSON.
SAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "output_text": {"type": "string"},
        "output_json": {"type": "object"},
        "finish_reason": {"type": "string"},
    },
    "required": ["output_text"],
}


@dataclass(frozen=True)
class CustomConfig:
    """A checked ``custom`` data source config."""

    item_schema: dict[str, Any]
    include_sample_schema: bool

    def as_answered(self) -> dict[str, Any]:
        """The stored and answered form (OpenAI's ``EvalCustomDataSourceConfig``)."""
        properties: dict[str, Any] = {"item": self.item_schema}
        if self.include_sample_schema:
            properties["sample"] = SAMPLE_SCHEMA
        return {
            "type": "custom",
            "schema": {"type": "object", "properties": properties, "required": list(properties)},
        }

    @classmethod
    def of_stored(cls, stored: Mapping[str, Any]) -> CustomConfig:
        """The config an eval was created with, from its answered form."""
        properties = stored["schema"]["properties"]
        return cls(dict(properties["item"]), "sample" in properties)


def parse_data_source_config(raw: object) -> CustomConfig:
    """A create request's ``data_source_config``; a 400 naming the bad field otherwise."""
    kind = type_of(raw, param=PARAM, allowed=("custom", *UNSUPPORTED_CONFIGS))
    if kind in UNSUPPORTED_CONFIGS:
        raise InvalidRequest(
            f"data_source_config type '{kind}' reads stored chat completions, and ftapi stores "
            "none. Use 'custom' with an item_schema.",
            param=f"{PARAM}.type",
            code="unsupported_data_source",
        )
    if not isinstance(raw, Mapping):  # type_of checked it; this tells mypy
        raise InvalidRequest(f"'{PARAM}' must be an object.", param=PARAM)
    unknown = sorted(set(raw) - {"type", "item_schema", "include_sample_schema"})
    if unknown:
        raise InvalidRequest("Unknown parameter.", param=f"{PARAM}.{unknown[0]}")
    include_sample = raw.get("include_sample_schema", False)
    if not isinstance(include_sample, bool):
        raise InvalidRequest(
            "include_sample_schema must be a boolean.", param=f"{PARAM}.include_sample_schema"
        )
    return CustomConfig(_checked_schema(raw.get("item_schema")), include_sample)


def _checked_schema(schema: object) -> dict[str, Any]:
    param = f"{PARAM}.item_schema"
    if not isinstance(schema, dict):
        raise InvalidRequest("item_schema must be a JSON schema object.", param=param)
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
        keywords = list(_keywords(schema))
    except SchemaError as exc:
        raise InvalidRequest(
            f"item_schema is not a valid JSON schema: {_short(exc.message)}", param=param
        ) from None
    except RecursionError:
        raise InvalidRequest("item_schema is nested too deeply.", param=param) from None
    declared = schema.get("type", "object")
    if declared != "object" and not (isinstance(declared, list) and "object" in declared):
        raise InvalidRequest("item_schema must describe an object (type 'object').", param=param)
    for keyword, value in keywords:
        if keyword in ("$ref", "$dynamicRef") and not str(value).startswith("#"):
            raise InvalidRequest(
                f"item_schema may only refer inside itself ('#/…'), not to {_short(str(value))}.",
                param=param,
            )
        if keyword in REFUSED_KEYWORDS:
            raise InvalidRequest(
                f"item_schema may not use '{keyword}': a regular expression from a request could "
                "stall the service (catastrophic backtracking). Use enum, const or lengths.",
                param=param,
            )
    return schema


# Keywords whose value is a schema, a list of schemas, or a map of names to schemas: the walk
# descends only through these, so data (enum, const, default) and property names are not read
# as keywords.
_SCHEMA_VALUED = frozenset(
    {
        "items", "additionalItems", "additionalProperties", "contains", "not", "if", "then",
        "else", "propertyNames", "unevaluatedItems", "unevaluatedProperties", "prefixItems",
        "allOf", "anyOf", "oneOf",
    }
)  # fmt: skip
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
REFUSED_KEYWORDS = ("pattern", "patternProperties")


def _keywords(schema: object) -> Iterator[tuple[str, object]]:
    """Every (keyword, value) of ``schema`` and of all its subschemas."""
    if not isinstance(schema, dict):
        return
    for keyword, value in schema.items():
        yield keyword, value
        if keyword in _SCHEMA_MAPS and isinstance(value, dict):
            for subschema in value.values():
                yield from _keywords(subschema)
        elif keyword in _SCHEMA_VALUED:
            for subschema in value if isinstance(value, list) else [value]:
                yield from _keywords(subschema)


class ItemSchema:
    """Checks data source rows against an eval's config (the api for inline items, the runner
    for the rows of a file)."""

    def __init__(self, config: CustomConfig) -> None:
        self.config = config
        self._items = _validator(config.item_schema)
        self._samples = _validator(SAMPLE_SCHEMA) if config.include_sample_schema else None

    def item_problem(self, item: Any) -> str | None:
        """Why ``item`` breaks the item schema, or None."""
        return _problem(self._items, item)

    def sample_problem(self, sample: Any) -> str | None:
        """Why a given ``sample`` breaks the sample schema, or None (no sample schema: None)."""
        return None if self._samples is None else _problem(self._samples, sample)


def _validator(schema: dict[str, Any]) -> Validator:
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema)


def _problem(validator: Validator, instance: Any) -> str | None:  # any JSON value
    try:
        error: ValidationError | None = best_match(validator.iter_errors(instance))
    except Unresolvable as exc:  # a "#/…" pointer to nowhere in the schema
        return f"the schema has a reference that does not resolve: {_short(str(exc))}"
    except RecursionError:  # a schema that refers to itself without end, or a deep item
        return "the item is nested too deeply for the schema"
    if error is None:
        return None
    return f"{_short(error.message)} (at {error.json_path})"


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
