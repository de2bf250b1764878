"""A token sequence that remembers its text: ids, the trained flag per token, optional offsets.

The loss mask comes from character spans of the text (``trained_mask``). Offsets are only
materialized for the preview, which shows each token's text; building them for every training
example would cost as much as the encoding itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokenizers import Encoding

from service.datasets.tokenization.tokenized_example import TokenizedExample


@dataclass(frozen=True)
class TokenSequence:
    """Tokens of ``text``; ``offsets`` (when kept) are empty for tokens the tokenizer inserted."""

    ids: list[int]
    trained: list[bool]
    text: str
    offsets: list[tuple[int, int]] | None = None

    @classmethod
    def from_encoding(
        cls,
        encoding: Encoding,
        text: str,
        spans: Sequence[tuple[int, int]] = (),
        *,
        keep_offsets: bool = False,
    ) -> TokenSequence:
        """Tokens of ``text`` (as encoded), trained where they overlap one of ``spans``."""
        ids = encoding.ids
        return cls(
            ids=ids,
            trained=trained_mask(encoding, len(ids), spans),
            text=text,
            offsets=encoding.offsets if keep_offsets else None,
        )

    @classmethod
    def inserted(cls, ids: Sequence[int], *, trained: bool) -> TokenSequence:
        """Tokens with no text of their own, such as a BOS or EOS the tokenizer adds."""
        return cls(list(ids), [trained] * len(ids), "", [(0, 0)] * len(ids))

    @classmethod
    def concat(cls, parts: Sequence[TokenSequence]) -> TokenSequence:
        """Join sequences; kept offsets are shifted so they point into the joined text."""
        ids: list[int] = []
        trained: list[bool] = []
        offsets: list[tuple[int, int]] | None = []
        shift = 0
        for part in parts:
            ids += part.ids
            trained += part.trained
            if offsets is not None and part.offsets is not None:
                offsets += [(start + shift, end + shift) for start, end in part.offsets]
            else:
                offsets = None
            shift += len(part.text)
        return cls(ids, trained, "".join(part.text for part in parts), offsets)

    def truncated_to(self, max_tokens: int) -> TokenSequence:
        """The first ``max_tokens`` tokens (the whole sequence when it fits)."""
        if len(self.ids) <= max_tokens:
            return self
        offsets = self.offsets[:max_tokens] if self.offsets is not None else None
        return TokenSequence(self.ids[:max_tokens], self.trained[:max_tokens], self.text, offsets)

    def to_example(self, max_tokens: int) -> TokenizedExample:
        """The training view: truncated to ``max_tokens``, text and offsets dropped."""
        kept = self.truncated_to(max_tokens)
        return TokenizedExample(
            input_ids=kept.ids, trained=kept.trained, truncated=len(self.ids) > max_tokens
        )


def trained_mask(encoding: Encoding, n_tokens: int, spans: Sequence[tuple[int, int]]) -> list[bool]:
    """Flag the tokens from the one holding a span's first character to the one holding its last.

    The same rule as transformers' mask for ``{% generation %}`` blocks (``char_to_token`` of
    both ends): a token straddling a span edge counts as inside, and so does every token between
    the ends, including tokens whose offsets were trimmed to nothing.
    """
    mask = [False] * n_tokens
    for start, end in spans:
        first = _token_of_char(encoding, range(start, end))
        last = _token_of_char(encoding, range(end - 1, start - 1, -1))
        if first is not None and last is not None and last >= first:
            mask[first : last + 1] = [True] * (last + 1 - first)
    return mask


def _token_of_char(encoding: Encoding, positions: range) -> int | None:
    # Characters no token covers (trimmed whitespace) are skipped towards the span's middle.
    for position in positions:
        token = encoding.char_to_token(position)
        if token is not None:
            return token
    return None
