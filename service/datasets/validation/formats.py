"""The three training-file formats, how to tell them apart, and which ones a job method accepts.

Reference: ``shared/reference/openai-api.md`` section 4. A file's format is decided by its
first valid example; :func:`detect_format` looks only at the top-level keys, so a broken
example still tells which format it was meant to be and gets errors for that format.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class DatasetFormat(StrEnum):
    """The shape of every line of a training file."""

    CHAT = "chat"
    """``{"messages": [...], "tools": [...]}``: supervised fine-tuning."""
    PREFERENCE = "preference"
    """``{"input": {"messages": [...]}, "preferred_output": [...], ...}``: DPO."""
    COMPLETION = "completion"
    """``{"prompt": "...", "completion": "..."}``: legacy supervised fine-tuning."""


# The guide (Dec 2024 on) says *_output; the openai-openapi spec up to mid-2025 said
# *_completion. Files written against either must work, so both spellings are accepted.
PREFERRED_KEYS = ("preferred_output", "preferred_completion")
NON_PREFERRED_KEYS = ("non_preferred_output", "non_preferred_completion")

_FORMATS_BY_METHOD: dict[str, frozenset[DatasetFormat]] = {
    "supervised": frozenset({DatasetFormat.CHAT, DatasetFormat.COMPLETION}),
    "dpo": frozenset({DatasetFormat.PREFERENCE}),
}

# When a line matches no format, it is checked against the first allowed format of this
# order, so that a job's expectation (or the most common format) shapes the error message.
FORMAT_PRIORITY = (DatasetFormat.CHAT, DatasetFormat.PREFERENCE, DatasetFormat.COMPLETION)


def formats_for_method(method: str) -> frozenset[DatasetFormat]:
    """The formats a fine-tuning ``method.type`` accepts ("supervised" or "dpo").

    Raises ``ValueError`` naming the method when it has no file format (e.g. "reinforcement",
    which ftapi does not train).
    """
    try:
        return _FORMATS_BY_METHOD[method]
    except KeyError:
        known = ", ".join(sorted(_FORMATS_BY_METHOD))
        raise ValueError(
            f"method {method!r} has no training-file format; use one of {known}"
        ) from None


def detect_format(example: Mapping[str, Any]) -> DatasetFormat | None:
    """The format an example was meant to be, from its top-level keys; None if it shows none."""
    if "messages" in example:
        return DatasetFormat.CHAT
    if "input" in example or any(key in example for key in PREFERRED_KEYS + NON_PREFERRED_KEYS):
        return DatasetFormat.PREFERENCE
    if "prompt" in example or "completion" in example:
        return DatasetFormat.COMPLETION
    return None


def normalize_preference_keys(example: dict[str, Any]) -> dict[str, Any]:
    """Rename a valid preference example's ``*_completion`` aliases to ``*_output``, in place."""
    for canonical, alias in (PREFERRED_KEYS, NON_PREFERRED_KEYS):
        if alias in example:
            example[canonical] = example.pop(alias)
    return example
