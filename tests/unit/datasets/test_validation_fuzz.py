"""Fuzzing the validator and the tokenization report with hand-written JSON (Hypothesis).

Each property runs twice: with a bounded budget in the suite and with a large one under the
``slow`` marker (``pytest -m slow tests/unit/datasets/test_validation_fuzz.py``). A crash found
here becomes a file in ``tests/data/validator_regressions`` (see test_validator_regressions.py).
"""

from __future__ import annotations

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from service.datasets.reports.dataset_report import report_of_jsonl
from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.datasets.tokenization.issues import IssueCode
from service.datasets.validation.formats import (
    DatasetFormat,
    detect_format,
    normalize_preference_keys,
)
from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.problems import ProblemCode, WarningCode
from service.datasets.validation.validator import iter_examples, validate_jsonl
from tests.support.dataset_examples import (
    examples,
    valid_chat,
    valid_completion,
    valid_preference,
)
from tests.support.json_fuzz import (
    SUITE_EXAMPLES,
    RawJson,
    fuzz_budget,
    json_values,
    long_hunt,
    spliced,
    to_json,
    valid_with_odd_values,
)

PROBLEM_CODES = {code.value for code in ProblemCode}
WARNING_CODES = {code.value for code in WarningCode}
ISSUE_CODES = {code.value for code in IssueCode}
# Tokenizing costs more than validating: fewer examples keep the suite's run within seconds.
SUITE_REPORTS = 100

lines = st.one_of(
    json_values.map(to_json),
    spliced(examples).map(to_json),
    spliced(valid_chat | valid_preference | valid_completion).map(to_json),
    st.binary(max_size=40),
)
files = st.lists(lines, max_size=8).map(b"\n".join)
limits = st.sampled_from(
    [ValidationLimits(), ValidationLimits(max_json_depth=8, max_line_bytes=4096, min_examples=1)]
)


def _validation_never_raises(data: bytes, limits: ValidationLimits) -> None:
    report = validate_jsonl([data], limits)

    n_lines = data.count(b"\n") + 1
    assert {problem.code for problem in report.problems} <= PROBLEM_CODES
    assert set(report.problem_counts) <= PROBLEM_CODES
    assert set(report.warning_counts) <= WARNING_CODES
    assert all(0 <= problem.line <= n_lines for problem in report.problems)
    assert report.ok == (not report.problems)
    assert isinstance(report.summary(), str)
    assert len(list(iter_examples([data], limits))) <= report.n_examples


test_validation_never_raises = fuzz_budget(SUITE_EXAMPLES)(
    given(files, limits)(_validation_never_raises)
)
test_validation_never_raises_long = long_hunt(given(files, limits)(_validation_never_raises))


# Mostly lines the validator accepts, so that most files have examples to tokenize.
report_lines = st.one_of(
    valid_with_odd_values().map(to_json),
    valid_with_odd_values().map(to_json),
    (valid_chat | valid_preference | valid_completion).map(to_json),
    spliced(valid_chat | valid_preference | valid_completion).map(to_json),
    spliced(examples).map(to_json),
)
report_files = st.lists(report_lines, min_size=1, max_size=6).map(b"\n".join)


@pytest.fixture(scope="module")
def tokenizers(
    chatml_tokenizer: ChatTokenizer, llama3_tokenizer: ChatTokenizer
) -> dict[str, ChatTokenizer]:
    """The tiny models' tokenizers by chat template."""
    return {"chatml": chatml_tokenizer, "llama3": llama3_tokenizer}


def _report_never_raises(
    tokenizers: dict[str, ChatTokenizer], data: bytes, template: str, n_previews: int
) -> None:
    tokenizer = tokenizers[template]
    limits = ValidationLimits(min_examples=1)
    accepted = list(iter_examples([data], limits))
    event("examples tokenized" if accepted else "no valid example")

    report = report_of_jsonl([data], tokenizer, model=template, limits=limits)

    assert report.n_examples == len(accepted)
    assert set(report.issue_counts) <= ISSUE_CODES
    assert 0 <= report.trained_tokens <= report.total_tokens
    for _, example in accepted[:n_previews]:
        example_format = detect_format(example) or DatasetFormat.CHAT
        if example_format is DatasetFormat.PREFERENCE:
            normalize_preference_keys(example)
        preview = tokenizer.render_preview(example, example_format)
        assert {issue.code.value for issue in preview.issues} <= ISSUE_CODES


_report_args = {
    "data": report_files,
    "template": st.sampled_from(["chatml", "llama3"]),
    "n_previews": st.integers(0, 2),
}
test_report_never_raises = fuzz_budget(SUITE_REPORTS)(given(**_report_args)(_report_never_raises))
test_report_never_raises_long = long_hunt(given(**_report_args)(_report_never_raises))


def test_raw_json_writes_what_json_dumps_cannot() -> None:
    """The writer's hand-written nodes reach the line unchanged."""
    line = to_json({"a": RawJson(b"1e400"), "b": [RawJson(b'"\\ud800"')]})

    assert line == b'{"a":1e400,"b":["\\ud800"]}'
