"""A human-readable view of a tokenized example: each token's text and whether it is trained.

Served by ``GET /v1/files/{id}/preview`` so users can see exactly what the loss covers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from service.datasets.tokenization.issues import ExampleIssue
from service.datasets.tokenization.token_sequence import TokenSequence

# Marks around trained text in ``SequencePreview.marked_text``; rare enough not to be confused
# with the example's own text.
TRAINED_START = "⟦"
TRAINED_END = "⟧"


@dataclass(frozen=True)
class PreviewToken:
    """One token: its id, the text it covers, and whether the loss covers it."""

    id: int
    text: str
    trained: bool


@dataclass(frozen=True)
class SequencePreview:
    """One sequence of an example (``example``, or ``chosen`` / ``rejected`` for preferences)."""

    label: str
    tokens: list[PreviewToken]
    truncated: bool

    @property
    def marked_text(self) -> str:
        """The sequence's text with each run of trained tokens wrapped in ⟦ ⟧."""
        pieces: list[str] = []
        in_trained = False
        for token in self.tokens:
            if token.trained != in_trained:
                pieces.append(TRAINED_START if token.trained else TRAINED_END)
                in_trained = token.trained
            pieces.append(token.text)
        if in_trained:
            pieces.append(TRAINED_END)
        return "".join(pieces)


@dataclass(frozen=True)
class ExamplePreview:
    """The preview of one example and the problems tokenization found in it."""

    sequences: list[SequencePreview]
    issues: list[ExampleIssue]


def preview_sequence(
    label: str,
    sequence: TokenSequence,
    max_tokens: int,
    token_content: Callable[[int], str],
) -> SequencePreview:
    """Preview ``sequence`` as training sees it (truncated to ``max_tokens``).

    A token's text runs from where the previous token's text ended to its own end offset, so
    the pieces join back into the whole text even when offsets skip whitespace or several
    byte-level tokens share one character; inserted tokens (BOS, EOS) show their content.
    """
    kept = sequence.truncated_to(max_tokens)
    if kept.offsets is None:
        raise ValueError("a preview needs a sequence tokenized with keep_offsets=True")
    tokens: list[PreviewToken] = []
    cursor = 0
    for token_id, (start, end), trained in zip(kept.ids, kept.offsets, kept.trained, strict=True):
        if start == end and end <= cursor and token_content(token_id):
            text = token_content(token_id)
        else:
            text = kept.text[cursor:end] if end > cursor else ""
            cursor = max(cursor, end)
        tokens.append(PreviewToken(id=token_id, text=text, trained=trained))
    return SequencePreview(label=label, tokens=tokens, truncated=len(sequence.ids) > max_tokens)
