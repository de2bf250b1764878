"""Small builders shared by the grader tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.graders import (
    Embeddings,
    GradedSample,
    GraderCapabilities,
    GraderModels,
    GraderResult,
    parse_grader,
    run_grader,
)
from service.graders.config import Grader

ALL = GraderCapabilities(embeddings=True)


def grader(raw: Mapping[str, Any]) -> Grader:
    return parse_grader(raw, capabilities=ALL)


async def grade(
    raw: Mapping[str, Any],
    *,
    item: Mapping[str, object] | None = None,
    output: str = "",
    models: GraderModels | None = None,
    embeddings: Embeddings | None = None,
) -> GraderResult:
    return await run_grader(
        grader(raw),
        item=item or {},
        sample=GradedSample.of_text(output),
        models=models,
        embeddings=embeddings,
    )


def errors_of(result: GraderResult) -> set[str]:
    """The names of the error flags the result sets."""
    errors = result.metadata["errors"]
    assert isinstance(errors, dict)
    return {name for name, value in errors.items() if value is True}


def string_check(input_: str, reference: str, operation: str = "eq") -> dict[str, object]:
    return {
        "type": "string_check",
        "name": "check",
        "input": input_,
        "reference": reference,
        "operation": operation,
    }
