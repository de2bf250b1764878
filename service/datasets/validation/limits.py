"""Bounds the validator enforces on a training file; they also bound its memory and time."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.settings import Settings

# The schemas alone nest 7 levels (preference example, input, messages, message, content
# parts, part, image_url); the fast path relies on every limit allowing at least that.
MIN_JSON_DEPTH = 8
# The JSON parsers recurse per level; well below Python's recursion limit keeps them safe.
MAX_JSON_DEPTH = 256


@dataclass(frozen=True)
class ValidationLimits:
    """Limits for one training file. Memory use is about ``max_line_bytes`` plus one input chunk."""

    max_line_bytes: int = 4 * 1024 * 1024
    max_json_depth: int = 64
    max_messages_per_example: int = 2048
    max_examples: int = 10_000_000
    min_examples: int = 10
    max_reported_problems: int = 20

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if type(value) is not int or value < 0:
                raise ValueError(f"{field.name} must be a non-negative int, got {value!r}")
        if self.max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {self.max_line_bytes}")
        if not MIN_JSON_DEPTH <= self.max_json_depth <= MAX_JSON_DEPTH:
            raise ValueError(
                f"max_json_depth must be between {MIN_JSON_DEPTH} and {MAX_JSON_DEPTH}, "
                f"got {self.max_json_depth}"
            )
        if self.max_messages_per_example < 1:
            raise ValueError(
                f"max_messages_per_example must be at least 1, got {self.max_messages_per_example}"
            )
        if self.max_reported_problems < 1:
            raise ValueError(
                f"max_reported_problems must be at least 1, got {self.max_reported_problems}"
            )


def training_data_limits(settings: Settings, *, min_examples: int = 1) -> ValidationLimits:
    """Validator limits from settings, the same for the server and ``ftapi files validate``.
    Files are checked with ``min_examples=1`` at upload (a small file may serve as a validation
    file); jobs apply the training minimum."""
    return ValidationLimits(
        max_line_bytes=settings.limits.max_training_line_bytes,
        max_examples=settings.limits.max_training_examples,
        min_examples=min_examples,
    )
