"""Eval domain records: an eval, its runs and their graded output items.

A run moves ``queued → in_progress → completed | failed``, and ``canceled`` from either of the
first two; an ``in_progress`` run whose worker died goes back to ``queued`` for the reconciler.
The JSON fields keep the shapes the ``openai`` SDK sends and reads, already validated.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is (OpenAI's names)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELED = "canceled"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """Whether the run is over: nothing moves it again."""
        return self in _TERMINAL


_TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.CANCELED, RunStatus.FAILED})


class OutputItemStatus(StrEnum):
    """An output item passed every criterion, failed one, or could not be graded."""

    PASS = "pass"  # noqa: S105 (a status, not a password)
    FAIL = "fail"
    ERROR = "error"


@dataclass(frozen=True)
class EvalRecord:
    """An eval: the shape of its items and the criteria its samples are graded by."""

    id: str
    project_id: str
    name: str
    data_source_config: dict[str, object]  # as answered: custom, with the generated schema
    testing_criteria: tuple[dict[str, object], ...]  # graders, each with its pass_threshold
    metadata: dict[str, str] | None
    created_at: int
    created_us: int


@dataclass(frozen=True)
class ResultCounts:
    """How a run's items came out so far."""

    total: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0


@dataclass(frozen=True)
class ModelUsage:
    """Tokens one model spent in a run (sampling or grading)."""

    model_name: str
    invocation_count: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int = 0


@dataclass(frozen=True)
class CriterionResult:
    """How many items one testing criterion passed and failed in a run."""

    testing_criteria: str
    passed: int
    failed: int


@dataclass(frozen=True)
class RunRecord:
    """One run of an eval over a data source."""

    id: str
    eval_id: str
    project_id: str
    name: str
    status: RunStatus
    model: str | None  # the sampled model of a completions source
    data_source: dict[str, object]
    metadata: dict[str, str] | None
    error: dict[str, str] | None  # {"code": …, "message": …} once failed
    total_items: int | None  # known once the worker has read the source
    result_counts: ResultCounts
    per_model_usage: tuple[ModelUsage, ...]
    per_testing_criteria_results: tuple[CriterionResult, ...]
    attempts: int
    heartbeat_at: int | None
    created_at: int
    created_us: int
    finished_at: int | None


@dataclass(frozen=True)
class OutputItemRecord:
    """One item of a run: the item, the sample it was graded on and every grader's result."""

    id: str
    run_id: str
    eval_id: str
    project_id: str
    datasource_item_id: int
    datasource_item: dict[str, object]
    sample: dict[str, object]
    results: tuple[dict[str, object], ...]
    status: OutputItemStatus
    created_at: int
    created_us: int
