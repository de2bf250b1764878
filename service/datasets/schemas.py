"""HTTP shapes of the dataset extensions: report, preview (and the estimate's report part)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.datasets.reports.dataset_report import DatasetReport
from service.datasets.service import LinePreview


class TokenDistributionObject(BaseModel):
    min: int
    p50: int
    p95: int
    max: int


class TokenHistogramObject(BaseModel):
    """Trainable examples by token count: ``counts[i]`` have from ``edges[i]`` up to, not
    including, ``edges[i + 1]`` tokens (the last bucket also holds ``edges[-1]``). Up to 20 equal
    buckets from 0 to ``max_seq_length`` (twice that for preference examples, which are two
    sequences)."""

    edges: list[int] = Field(description="Bucket bounds in tokens, one more than `counts`.")
    counts: list[int] = Field(description="Trainable examples in each bucket.")


class TokenCounts(BaseModel):
    """Tokens of the trainable examples; ``trained`` are those the loss covers."""

    total: int
    trained: int
    per_example: TokenDistributionObject | None = Field(
        description="Spread of tokens per example; null when no example is trainable."
    )
    histogram: TokenHistogramObject | None = Field(
        description="Tokens per example in buckets; null only in reports computed before "
        "histograms existed."
    )


class ReportIssueObject(BaseModel):
    line: int
    code: str
    severity: Literal["error", "warning"]
    param: str | None
    message: str


class DatasetReportObject(BaseModel):
    """``GET /v1/files/{id}/report``: the file tokenized for one model."""

    object: Literal["fine_tuning.dataset_report"] = "fine_tuning.dataset_report"
    file_id: str
    model: str
    format: str | None
    max_seq_length: int
    n_examples: int
    n_trainable_examples: int
    n_truncated: int
    tokens: TokenCounts
    issue_counts: dict[str, int]
    issues: list[ReportIssueObject]

    @classmethod
    def of(cls, file_id: str, report: DatasetReport) -> DatasetReportObject:
        """The wire shape of a report."""
        distribution = report.tokens_per_example
        histogram = report.token_histogram
        return cls(
            file_id=file_id,
            model=report.model,
            format=report.format,
            max_seq_length=report.max_seq_length,
            n_examples=report.n_examples,
            n_trainable_examples=report.n_trainable_examples,
            n_truncated=report.n_truncated,
            tokens=TokenCounts(
                total=report.total_tokens,
                trained=report.trained_tokens,
                per_example=None
                if distribution is None
                else TokenDistributionObject(
                    min=distribution.min,
                    p50=distribution.p50,
                    p95=distribution.p95,
                    max=distribution.max,
                ),
                histogram=None
                if histogram is None
                else TokenHistogramObject(edges=histogram.edges, counts=histogram.counts),
            ),
            issue_counts=report.issue_counts,
            issues=[
                ReportIssueObject(
                    line=issue.line,
                    code=issue.code,
                    severity="error" if issue.severity == "error" else "warning",
                    param=issue.param,
                    message=issue.message,
                )
                for issue in report.issues
            ],
        )


class PreviewTokenObject(BaseModel):
    id: int
    text: str
    trained: bool


class SequencePreviewObject(BaseModel):
    """One sequence: ``example``, or ``chosen`` / ``rejected`` for preference data."""

    label: str
    truncated: bool
    marked_text: str
    tokens: list[PreviewTokenObject]


class PreviewIssueObject(BaseModel):
    code: str
    severity: str
    param: str | None
    message: str


class DatasetPreviewObject(BaseModel):
    """``GET /v1/files/{id}/preview``: one line rendered; trained text is wrapped in ⟦ ⟧."""

    object: Literal["fine_tuning.dataset_preview"] = "fine_tuning.dataset_preview"
    file_id: str
    model: str
    line: int
    format: str
    sequences: list[SequencePreviewObject]
    issues: list[PreviewIssueObject]

    @classmethod
    def of(cls, file_id: str, model: str, preview: LinePreview) -> DatasetPreviewObject:
        """The wire shape of a line preview."""
        return cls(
            file_id=file_id,
            model=model,
            line=preview.line,
            format=preview.format.value,
            sequences=[
                SequencePreviewObject(
                    label=sequence.label,
                    truncated=sequence.truncated,
                    marked_text=sequence.marked_text,
                    tokens=[
                        PreviewTokenObject(id=token.id, text=token.text, trained=token.trained)
                        for token in sequence.tokens
                    ],
                )
                for sequence in preview.preview.sequences
            ],
            issues=[
                PreviewIssueObject(
                    code=issue.code.value,
                    severity=issue.severity.value,
                    param=issue.param,
                    message=issue.message,
                )
                for issue in preview.preview.issues
            ],
        )
