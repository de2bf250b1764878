"""Tokens per example in the dataset report: the spread and the histogram."""

from __future__ import annotations

import json

import pytest

from service.datasets.reports.dataset_report import DatasetReport, build_report, report_of_jsonl
from service.datasets.reports.token_lengths import (
    TokenDistribution,
    TokenHistogram,
    TokenLengthTally,
)
from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.datasets.validation.formats import DatasetFormat
from service.datasets.validation.limits import ValidationLimits


def _tally(max_tokens: int, lengths: list[int]) -> TokenLengthTally:
    tally = TokenLengthTally(max_tokens)
    for length in lengths:
        tally.add(length)
    return tally


def test_twenty_equal_buckets_up_to_max_tokens() -> None:
    histogram = _tally(100, [1, 4, 5, 5, 50, 99, 100]).histogram()

    assert histogram.edges == list(range(0, 105, 5))
    assert len(histogram.counts) == 20
    assert histogram.counts[0] == 2  # 1 and 4 are in [0, 5)
    assert histogram.counts[1] == 2  # both 5s are in [5, 10)
    assert histogram.counts[10] == 1  # 50
    assert histogram.counts[19] == 2  # 99, and 100: the last bucket holds its upper edge
    assert sum(histogram.counts) == 7


def test_widths_are_whole_tokens_rounded_up() -> None:
    histogram = _tally(30, [0, 1, 2, 29, 30]).histogram()

    assert histogram.edges == list(range(0, 32, 2))  # 15 buckets of 2: none left empty at the end
    assert histogram.counts[0] == 2
    assert histogram.counts[1] == 1
    assert histogram.counts[-1] == 2
    assert sum(histogram.counts) == 5


def test_a_tiny_max_gets_one_token_buckets() -> None:
    histogram = _tally(3, [1, 2, 3, 3]).histogram()

    assert histogram == TokenHistogram(edges=[0, 1, 2, 3], counts=[0, 1, 3])


def test_lengths_past_the_max_land_in_the_last_bucket() -> None:
    histogram = _tally(40, [39, 41, 500]).histogram()

    assert histogram.counts[-1] == 3


def test_the_spread_is_exact_and_the_histogram_empty_without_examples() -> None:
    empty = TokenLengthTally(64)
    assert empty.distribution() is None
    assert empty.histogram().counts == [0] * 16

    lengths = [*range(1, 101)] + [7] * 50
    spread = _tally(256, lengths).distribution()
    ordered = sorted(lengths)
    assert spread == TokenDistribution(
        min=1,
        p50=ordered[int(0.5 * len(ordered))],
        p95=ordered[int(0.95 * len(ordered))],
        max=100,
    )


def test_max_tokens_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        TokenLengthTally(0)


def _chat(i: int) -> dict[str, object]:
    return {
        "messages": [
            {"role": "user", "content": f"Question {i}: " + "word " * i},
            {"role": "assistant", "content": f"Answer {i}."},
        ]
    }


def test_the_report_counts_every_trainable_example_in_the_histogram(
    chatml_tokenizer: ChatTokenizer,
) -> None:
    lines = [json.dumps(_chat(i)).encode() + b"\n" for i in range(12)]

    report = report_of_jsonl(
        lines, chatml_tokenizer, model="tiny", limits=ValidationLimits(min_examples=1)
    )

    histogram = report.token_histogram
    assert histogram is not None
    assert histogram.edges[0] == 0
    assert histogram.edges[-1] >= chatml_tokenizer.max_seq_length
    assert len(histogram.counts) == len(histogram.edges) - 1 <= 20
    assert sum(histogram.counts) == report.n_trainable_examples == 12
    spread = report.tokens_per_example
    assert spread is not None
    width = histogram.edges[1]
    assert histogram.counts[spread.min // width] > 0
    assert histogram.counts[min(spread.max // width, len(histogram.counts) - 1)] > 0
    assert DatasetReport.from_json(json.loads(json.dumps(report.to_json()))) == report


def test_preference_examples_count_both_sequences(chatml_tokenizer: ChatTokenizer) -> None:
    example = {
        "input": {"messages": [{"role": "user", "content": "Sky colour?"}]},
        "preferred_output": [{"role": "assistant", "content": "Blue."}],
        "non_preferred_output": [{"role": "assistant", "content": "No."}],
    }

    report = build_report(
        [(1, example)], chatml_tokenizer, model="tiny", example_format=DatasetFormat.PREFERENCE
    )

    assert report.token_histogram is not None
    assert report.token_histogram.edges[-1] >= 2 * chatml_tokenizer.max_seq_length
    assert sum(report.token_histogram.counts) == 1


def test_a_report_stored_before_histograms_still_loads(chatml_tokenizer: ChatTokenizer) -> None:
    report = build_report(
        [(1, _chat(1))], chatml_tokenizer, model="tiny", example_format=DatasetFormat.CHAT
    )
    stored = report.to_json()
    del stored["token_histogram"]

    assert DatasetReport.from_json(stored).token_histogram is None
