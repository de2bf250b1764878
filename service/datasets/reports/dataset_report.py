"""The dataset report: what a training file becomes for one base model, before a GPU is spent.

One streaming pass: valid examples are tokenized in batches with the model's tokenizer and chat
template (the code the trainer uses), and counted: examples, tokens (total, trained, per-example
spread and histogram), truncations, and every problem tokenization finds, with its line number.
Memory is bounded by the batch and the model's ``max_seq_length``, not by the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import chain, islice
from typing import Any

from service.datasets.reports.token_lengths import (
    TokenDistribution,
    TokenHistogram,
    TokenLengthTally,
)
from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.datasets.tokenization.issues import ExampleIssue, IssueSeverity
from service.datasets.tokenization.tokenized_example import TokenizedExample, TokenizedPreference
from service.datasets.validation.formats import DatasetFormat, detect_format
from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.line_crash import LineCrashed
from service.datasets.validation.validator import iter_examples

TOKENIZE_BATCH_SIZE = 256
MAX_REPORTED_ISSUES = 20


@dataclass(frozen=True)
class ReportIssue:
    """A problem tokenization found in one example."""

    line: int
    code: str
    severity: str
    param: str | None
    message: str


@dataclass
class DatasetReport:
    """Counts for one file tokenized for one model."""

    model: str
    format: str | None
    max_seq_length: int
    n_examples: int = 0
    n_trainable_examples: int = 0
    n_truncated: int = 0
    total_tokens: int = 0
    trained_tokens: int = 0
    tokens_per_example: TokenDistribution | None = None
    # None only in reports stored before histograms were counted.
    token_histogram: TokenHistogram | None = None
    issue_counts: dict[str, int] = field(default_factory=dict)
    issues: list[ReportIssue] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (also the stored form)."""
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DatasetReport:
        """Rebuild a stored report."""
        raw = dict(raw)
        distribution = raw.pop("tokens_per_example")
        histogram = raw.pop("token_histogram", None)
        issues = [ReportIssue(**issue) for issue in raw.pop("issues")]
        return cls(
            **raw,
            tokens_per_example=None if distribution is None else TokenDistribution(**distribution),
            token_histogram=None if histogram is None else TokenHistogram(**histogram),
            issues=issues,
        )


def build_report(
    examples: Iterable[tuple[int, dict[str, Any]]],
    tokenizer: ChatTokenizer,
    *,
    model: str,
    example_format: DatasetFormat,
) -> DatasetReport:
    """Tokenize every example and count what training will see."""
    report = DatasetReport(
        model=model, format=example_format.value, max_seq_length=tokenizer.max_seq_length
    )
    # A preference example is two sequences (chosen and rejected), each up to max_seq_length.
    n_sequences = 2 if example_format is DatasetFormat.PREFERENCE else 1
    lengths = TokenLengthTally(tokenizer.max_seq_length * n_sequences)
    issue_counts: Counter[str] = Counter()
    for batch in _batches(iter(examples), TOKENIZE_BATCH_SIZE):
        outcomes = _tokenize(tokenizer, batch, example_format)
        for (line, _), (tokenized, issues) in zip(batch, outcomes, strict=True):
            report.n_examples += 1
            sequences = _sequences(tokenized)
            n_tokens = sum(seq.n_tokens for seq in sequences)
            n_trained = sum(seq.n_trained for seq in sequences)
            fatal = any(issue.severity is IssueSeverity.ERROR for issue in issues)
            if not fatal and n_trained > 0:
                report.n_trainable_examples += 1
                report.total_tokens += n_tokens
                report.trained_tokens += n_trained
                lengths.add(n_tokens)
            report.n_truncated += tokenized.truncated
            for issue in issues:
                issue_counts[issue.code.value] += 1
                if len(report.issues) < MAX_REPORTED_ISSUES:
                    report.issues.append(
                        ReportIssue(
                            line=line,
                            code=issue.code.value,
                            severity=issue.severity.value,
                            param=issue.param,
                            message=issue.message,
                        )
                    )
    report.issue_counts = dict(issue_counts)
    report.tokens_per_example = lengths.distribution()
    report.token_histogram = lengths.histogram()
    return report


def report_of_jsonl(
    chunks: Iterable[bytes], tokenizer: ChatTokenizer, *, model: str, limits: ValidationLimits
) -> DatasetReport:
    """The report of a whole JSONL file given as byte chunks: its valid examples, tokenized in
    the format of the first one (the server on stored files, ``ftapi files validate`` locally)."""
    examples = iter_examples(chunks, limits)
    first = next(examples, None)
    if first is None:
        return DatasetReport(model=model, format=None, max_seq_length=tokenizer.max_seq_length)
    example_format = detect_format(first[1]) or DatasetFormat.CHAT
    return build_report(
        chain([first], examples), tokenizer, model=model, example_format=example_format
    )


def _tokenize(
    tokenizer: ChatTokenizer, batch: list[tuple[int, dict[str, Any]]], example_format: DatasetFormat
) -> list[tuple[TokenizedExample | TokenizedPreference, list[ExampleIssue]]]:
    """Tokenize a batch; when that raises (a bug), name the line of the first example that
    raises alone (``LineCrashed``), so its file or job can say where it struck."""
    try:
        return tokenizer.tokenize_batch([example for _, example in batch], example_format)
    except Exception as exc:
        for line, example in batch:
            try:
                tokenizer.tokenize_batch([example], example_format)
            except Exception:
                raise LineCrashed(line) from exc
        raise


def _sequences(tokenized: TokenizedExample | TokenizedPreference) -> list[TokenizedExample]:
    if isinstance(tokenized, TokenizedPreference):
        return [tokenized.chosen, tokenized.rejected]
    return [tokenized]


def _batches(
    items: Iterator[tuple[int, dict[str, Any]]], size: int
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    while batch := list(islice(items, size)):
        yield batch
