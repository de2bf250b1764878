"""What tokenizing one training example produces: token ids, which of them are trained, problems.

These are the hand-off between the dataset checks (report, preview, estimate) and the trainer,
which reads ``input_ids`` and ``trained`` (its loss mask) and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class IssueSeverity(StrEnum):
    """Errors make an example unusable for training; warnings are reported and counted."""

    ERROR = "error"
    WARNING = "warning"


class IssueCode(StrEnum):
    """Stable codes of the problems tokenization finds in one example."""

    NO_TRAINED_TOKENS = "no_trained_tokens"
    SPECIAL_TOKEN_IN_TEXT = "special_token_in_text"  # noqa: S105 - an issue code, not a secret
    CHAT_TEMPLATE_ERROR = "chat_template_error"
    CHAT_TEMPLATE_NOT_INCREMENTAL = "chat_template_not_incremental"
    MISSING_END_OF_TURN = "missing_end_of_turn"
    UNSUPPORTED_CONTENT_PART = "unsupported_content_part"
    INVALID_EXAMPLE = "invalid_example"


@dataclass(frozen=True)
class ExampleIssue:
    """One problem in one example; ``param`` is the field's JSON path (``messages[2].content``)."""

    code: IssueCode
    message: str
    param: str | None = None
    severity: IssueSeverity = IssueSeverity.ERROR


@dataclass(frozen=True)
class TokenizedExample:
    """One training sequence: ``trained[i]`` says whether the loss covers ``input_ids[i]``.

    For a causal LM that is ``labels = input_ids`` where trained and ``-100`` elsewhere (the model
    shifts the labels itself, so token ``i`` is predicted from the tokens before it).

    ``truncated`` is set when the sequence was cut to the model's ``max_seq_length`` (from the
    end, as OpenAI does); the tokens kept are the ones trained on.
    """

    input_ids: list[int]
    trained: list[bool]
    truncated: bool = False

    @property
    def n_tokens(self) -> int:
        """Tokens in the sequence (after truncation)."""
        return len(self.input_ids)

    @property
    def n_trained(self) -> int:
        """Tokens the loss covers."""
        return sum(self.trained)


@dataclass(frozen=True)
class TokenizedPreference:
    """A DPO pair: both sequences start with ``prompt_ids``; only the answers are trained."""

    prompt_ids: list[int]
    chosen: TokenizedExample
    rejected: TokenizedExample

    @property
    def truncated(self) -> bool:
        """Either side was cut to ``max_seq_length``."""
        return self.chosen.truncated or self.rejected.truncated
