"""What a grader run produces: the reward, and metadata shaped like OpenAI's.

``GraderResult.metadata`` is exactly the SDK's ``fine_tuning.alpha.GraderRunResponse.Metadata``
(``name``, ``type``, ``errors`` with every flag, ``execution_time``, ``scores``, ``token_usage``,
``sampled_model_name``), so the graders run route and eval output items send it as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class ErrorFlags:
    """The ``errors`` object of the metadata, under OpenAI's wire names."""

    formula_parse_error: bool = False
    invalid_variable_error: bool = False
    model_grader_parse_error: bool = False
    model_grader_refusal_error: bool = False
    model_grader_server_error: bool = False
    model_grader_server_error_details: str | None = None
    other_error: bool = False
    python_grader_runtime_error: bool = False
    python_grader_runtime_error_details: str | None = None
    python_grader_server_error: bool = False
    python_grader_server_error_type: str | None = None
    sample_parse_error: bool = False
    truncated_observation_error: bool = False
    unresponsive_reward_error: bool = False

    def any(self) -> bool:
        return any(value is True for value in self.as_dict().values())

    def as_dict(self) -> dict[str, object]:
        return {flag.name: getattr(self, flag.name) for flag in fields(self)}

    @classmethod
    def merged(cls, all_flags: Sequence[ErrorFlags]) -> ErrorFlags:
        """Each flag set when any of ``all_flags`` sets it; details joined with "; "."""
        values = [flags.as_dict() for flags in all_flags]
        merged: dict[str, Any] = {}
        for name, default in cls().as_dict().items():
            if isinstance(default, bool):
                merged[name] = any(value[name] is True for value in values)
            else:
                details = [str(value[name]) for value in values if value[name] is not None]
                merged[name] = "; ".join(details) if details else None
        return cls(**merged)


@dataclass(frozen=True)
class Usage:
    """Tokens one grader model spent."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def add_usage(*usages: Mapping[str, Usage]) -> dict[str, Usage]:
    total: dict[str, Usage] = {}
    for usage in usages:
        for model, spent in usage.items():
            before = total.get(model, Usage())
            total[model] = Usage(
                before.prompt_tokens + spent.prompt_tokens,
                before.completion_tokens + spent.completion_tokens,
            )
    return total


@dataclass(frozen=True)
class Outcome:
    """One grader's verdict before it is timed and shaped (``grading.py`` builds these)."""

    reward: float = 0.0
    errors: ErrorFlags = field(default_factory=ErrorFlags)
    sub_rewards: Mapping[str, float] = field(default_factory=dict)
    scores: Mapping[str, object] = field(default_factory=dict)
    usage: Mapping[str, Usage] = field(default_factory=dict)
    sampled_model_name: str | None = None


@dataclass(frozen=True)
class GraderResult:
    """A grader's reward for one sample and item, with OpenAI's metadata.

    ``reward`` is 0 whenever ``has_error()``; ``sub_rewards`` holds each sub-grader's reward for
    ``multi`` (empty otherwise); ``model_token_usage`` maps each grader model to its
    ``prompt_tokens``, ``completion_tokens`` and ``total_tokens``.
    """

    reward: float
    sub_rewards: dict[str, float]
    metadata: dict[str, object]
    model_token_usage: dict[str, dict[str, int]]

    def has_error(self) -> bool:
        errors = self.metadata.get("errors")
        return isinstance(errors, dict) and any(value is True for value in errors.values())

    @classmethod
    def of(
        cls, outcome: Outcome, *, name: str, grader_type: str, execution_time_s: float
    ) -> GraderResult:
        usage = {model: spent.as_dict() for model, spent in outcome.usage.items()}
        total_tokens = sum(spent["total_tokens"] for spent in usage.values()) if usage else None
        return cls(
            reward=0.0 if outcome.errors.any() else float(outcome.reward),
            sub_rewards=dict(outcome.sub_rewards),
            metadata={
                "name": name,
                "type": grader_type,
                "errors": outcome.errors.as_dict(),
                "execution_time": float(execution_time_s),
                "scores": dict(outcome.scores),
                "token_usage": total_tokens,
                "sampled_model_name": outcome.sampled_model_name,
            },
            model_token_usage=usage,
        )
