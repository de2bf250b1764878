"""Tokens per example, tallied in one pass: percentiles and a histogram for the dataset report.

The tally keeps a count per distinct length, not every length. Truncation bounds a length by
``max_seq_length`` per sequence, so memory is bounded by the model, not by the file's size, and
the percentiles stay exact.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

HISTOGRAM_BUCKETS = 20


@dataclass(frozen=True)
class TokenDistribution:
    """Per-example token counts."""

    min: int
    p50: int
    p95: int
    max: int


@dataclass(frozen=True)
class TokenHistogram:
    """Examples per token-count bucket: ``counts[i]`` examples have from ``edges[i]`` tokens up
    to, not including, ``edges[i + 1]``; the last bucket also holds ``edges[-1]``."""

    edges: list[int]
    counts: list[int]


class TokenLengthTally:
    """Counts examples by their token count, up to ``max_tokens`` (longer ones land in the last
    bucket of the histogram)."""

    def __init__(self, max_tokens: int) -> None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        self.max_tokens = max_tokens
        self._by_length: Counter[int] = Counter()

    def add(self, n_tokens: int) -> None:
        """Count one example of ``n_tokens`` tokens."""
        self._by_length[n_tokens] += 1

    def distribution(self) -> TokenDistribution | None:
        """Min, median, 95th percentile and max; None when nothing was counted."""
        total = self._by_length.total()
        if total == 0:
            return None
        lengths = sorted(self._by_length)

        def at(quantile: float) -> int:
            # The length of the example at rank int(quantile * total) in sorted order.
            rank = min(total - 1, int(quantile * total))
            seen = 0
            for length in lengths:
                seen += self._by_length[length]
                if seen > rank:
                    return length
            return lengths[-1]

        return TokenDistribution(min=lengths[0], p50=at(0.5), p95=at(0.95), max=lengths[-1])

    def histogram(self) -> TokenHistogram:
        """Up to ``HISTOGRAM_BUCKETS`` equal buckets from 0 to ``max_tokens``: the width is a
        whole number of tokens, rounded up, so the last edge may pass ``max_tokens``."""
        width = -(-self.max_tokens // HISTOGRAM_BUCKETS)
        n_buckets = -(-self.max_tokens // width)
        counts = [0] * n_buckets
        for length, n_examples in self._by_length.items():
            counts[min(length // width, n_buckets - 1)] += n_examples
        return TokenHistogram(edges=[i * width for i in range(n_buckets + 1)], counts=counts)
