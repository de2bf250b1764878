"""What tokenizing one training example produces: token ids and which of them are trained.

These (with the example's issues, :mod:`service.datasets.tokenization.issues`) are the hand-off
between the dataset checks (report, preview, estimate) and the trainer, which reads
``input_ids`` and ``trained`` (its loss mask) and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass


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
