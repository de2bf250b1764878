"""The sample a grader judges: a model's answer as text, and as JSON when it is JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class GradedSample:
    """What templates see as ``sample.output_text`` and ``sample.output_json``.

    ``output_json`` is None when the text is not JSON; a template that reads it then reports
    ``invalid_variable_error``.
    """

    output_text: str
    output_json: object | None = None

    @classmethod
    def of_text(cls, output_text: str) -> GradedSample:
        """The sample for ``output_text``, with ``output_json`` parsed when the text is JSON."""
        return cls(output_text=output_text, output_json=_json_or_none(output_text))

    def namespace(self) -> dict[str, object]:
        """The ``sample`` namespace templates read (``output_json`` only when there is one)."""
        fields: dict[str, object] = {"output_text": self.output_text}
        if self.output_json is not None:
            fields["output_json"] = self.output_json
        return fields


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _json_or_none(text: str) -> object | None:
    try:
        # NaN and Infinity are Python's extensions, not JSON; refusing them keeps output_json
        # something that can be stored and sent back as JSON.
        parsed: object = json.loads(text, parse_constant=_refuse_constant)
        return parsed
    except (ValueError, RecursionError):
        return None
