"""The dataset report: what a training file becomes for one base model, before a GPU is spent.

One streaming pass: valid examples are tokenized in batches with the model's tokenizer and chat
template (the code the trainer uses), and counted: examples, tokens (total, trained, per-example
distribution), truncations, and every problem tokenization finds, with its line number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

from service.datasets.formats import DatasetFormat
from service.datasets.tokenization import ChatTokenizer
from service.datasets.tokenized import IssueSeverity, TokenizedExample, TokenizedPreference

TOKENIZE_BATCH_SIZE = 256
MAX_REPORTED_ISSUES = 20


@dataclass(frozen=True)
class TokenDistribution:
    """Per-example token counts."""

    min: int
    p50: int
    p95: int
    max: int


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
        issues = [ReportIssue(**issue) for issue in raw.pop("issues")]
        return cls(
            **raw,
            tokens_per_example=None if distribution is None else TokenDistribution(**distribution),
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
    lengths: list[int] = []
    issue_counts: Counter[str] = Counter()
    for batch in _batches(iter(examples), TOKENIZE_BATCH_SIZE):
        outcomes = tokenizer.tokenize_batch([example for _, example in batch], example_format)
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
                lengths.append(n_tokens)
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
    report.tokens_per_example = _distribution(lengths)
    return report


def _sequences(tokenized: TokenizedExample | TokenizedPreference) -> list[TokenizedExample]:
    if isinstance(tokenized, TokenizedPreference):
        return [tokenized.chosen, tokenized.rejected]
    return [tokenized]


def _distribution(lengths: list[int]) -> TokenDistribution | None:
    if not lengths:
        return None
    ordered = sorted(lengths)

    def at(quantile: float) -> int:
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]

    return TokenDistribution(min=ordered[0], p50=at(0.5), p95=at(0.95), max=ordered[-1])


def _batches(
    items: Iterator[tuple[int, dict[str, Any]]], size: int
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    while batch := list(islice(items, size)):
        yield batch
