"""A run's report, counted from its stored output items.

The row's ``result_counts``, ``per_testing_criteria_results`` and ``per_model_usage`` are never
incremented on their own: a worker starts its tally from every item already stored (a restarted
run's earlier items included), adds exactly the items its inserts stored (an insert that met an
existing item adds nothing), and writes the whole tally. So a run restarted any number of times
reports each item once.

    an item ...                                    counts as
    ─────────────────────────────────────────────  ─────────────────────────────────────────
    status pass / fail / error                     result_counts.passed / failed / errored
    a criterion's result, graded                   that criterion's passed or failed
    a criterion's result with an error flag set    neither (the item is ``error``): a pass
      (model down, garbage answer, bad template)     rate is over what could be graded
    a sample the model answered                    one invocation of the sampled model
    a grader's model calls                         their invocations and tokens, per model
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from service.evals.records import CriterionResult, ModelUsage, OutputItemStatus, ResultCounts

USAGE_FIELDS = ("invocation_count", "prompt_tokens", "completion_tokens", "total_tokens")


def result_errored(result: Mapping[str, object]) -> bool:
    """Whether a criterion's stored result says it could not grade (an error flag is set)."""
    metadata = result.get("metadata")
    errors = metadata.get("errors") if isinstance(metadata, Mapping) else None
    return isinstance(errors, Mapping) and any(value is True for value in errors.values())


@dataclass
class _Usage:
    invocation_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0

    def add(self, entry: Mapping[str, object], invocations: int) -> None:
        self.invocation_count += invocations
        self.prompt_tokens += _int(entry.get("prompt_tokens"))
        self.completion_tokens += _int(entry.get("completion_tokens"))
        self.total_tokens += _int(entry.get("total_tokens"))
        self.cached_tokens += _int(entry.get("cached_tokens"))


@dataclass
class RunTally:
    """Counters over a set of output items; ``criteria`` are the testing criteria's names."""

    criteria: Sequence[str]
    _statuses: Counter[str] = field(default_factory=Counter)
    _passed: Counter[int] = field(default_factory=Counter)
    _failed: Counter[int] = field(default_factory=Counter)
    _usage: dict[str, _Usage] = field(default_factory=dict)

    def add(
        self,
        status: OutputItemStatus,
        sample: Mapping[str, object],
        results: Sequence[Mapping[str, object]],
    ) -> None:
        """Count one stored item."""
        self._statuses[status.value] += 1
        for index, result in enumerate(results[: len(self.criteria)]):
            if result_errored(result):
                continue
            (self._passed if result.get("passed") is True else self._failed)[index] += 1
        model = sample.get("model")
        usage = sample.get("usage")
        if isinstance(model, str) and model and isinstance(usage, Mapping) and _answered(sample):
            self._usage_of(model).add(usage, 1)
        for result in results:
            per_model = result.get("model_token_usage")
            if not isinstance(per_model, Mapping):
                continue
            for name, entry in per_model.items():
                if isinstance(entry, Mapping):
                    self._usage_of(str(name)).add(entry, _int(entry.get("invocation_count")))

    def result_counts(self) -> ResultCounts:
        """``result_counts``."""
        counts = self._statuses
        return ResultCounts(
            total=sum(counts.values()),
            passed=counts[OutputItemStatus.PASS.value],
            failed=counts[OutputItemStatus.FAIL.value],
            errored=counts[OutputItemStatus.ERROR.value],
        )

    def criteria_results(self) -> tuple[CriterionResult, ...]:
        """``per_testing_criteria_results``, in the eval's order of criteria."""
        return tuple(
            CriterionResult(testing_criteria=name, passed=self._passed[i], failed=self._failed[i])
            for i, name in enumerate(self.criteria)
        )

    def model_usage(self) -> tuple[ModelUsage, ...]:
        """``per_model_usage``, by model name."""
        return tuple(
            ModelUsage(
                model_name=name,
                invocation_count=usage.invocation_count,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                total_tokens=usage.total_tokens,
                cached_tokens=usage.cached_tokens,
            )
            for name, usage in sorted(self._usage.items())
        )

    def _usage_of(self, model: str) -> _Usage:
        return self._usage.setdefault(model, _Usage())


def _answered(sample: Mapping[str, object]) -> bool:
    error = sample.get("error")
    return not (isinstance(error, Mapping) and error.get("code"))


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
