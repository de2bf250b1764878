"""Properties of the validator over generated input (Hypothesis).

- It never raises, whatever bytes arrive and however they are cut into chunks, and the
  chunking never changes the report.
- The fast path (msgspec) and the precise rules agree: a line is accepted by the fast path
  exactly when the rules find neither a problem nor a warning in it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.datasets.validation.fast_path import FastPath
from service.datasets.validation.formats import DatasetFormat, detect_format
from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.line_rules import check_example, parse_line
from service.datasets.validation.lines import split_lines
from service.datasets.validation.problems import LineFindings
from service.datasets.validation.validator import iter_examples, validate_jsonl
from tests.support.dataset_examples import (
    examples,
    valid_chat,
    valid_completion,
    valid_preference,
)
from tests.support.json_fuzz import long_hunt, spliced, to_json

# FTAPI_HYPOTHESIS_EXAMPLES=5000 for a longer hunt than the default run.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("FTAPI_HYPOTHESIS_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_lines = st.builds(
    lambda example, ascii_only: json.dumps(example, ensure_ascii=ascii_only).encode(),
    examples,
    st.booleans(),
)
# Whole files: JSON lines (some cut short or corrupted), blank lines and raw bytes.
file_lines = st.one_of(
    json_lines,
    json_lines,
    json_lines.map(lambda line: line[: len(line) // 2]),
    st.sampled_from([b"", b"  ", b"\r", b"[1]", b"\xff\xfe", b"\x00", b"[[[[[[[[[[[[[[[["]),
    st.binary(max_size=30),
)
files = st.lists(file_lines, max_size=14).map(b"\n".join) | st.binary(max_size=300)
limits = st.builds(
    ValidationLimits,
    max_line_bytes=st.integers(1, 400),
    max_json_depth=st.integers(8, 12),
    max_messages_per_example=st.integers(1, 5),
    max_examples=st.integers(0, 20),
    min_examples=st.integers(0, 12),
    max_reported_problems=st.integers(1, 6),
)
expected = st.none() | st.sampled_from(
    [
        frozenset({DatasetFormat.CHAT, DatasetFormat.COMPLETION}),
        frozenset({DatasetFormat.PREFERENCE}),
    ]
)


def cut(data: bytes, cut_points: list[int]) -> list[bytes]:
    """``data`` split at the given offsets (empty chunks included)."""
    offsets = sorted({min(point, len(data)) for point in cut_points})
    return [
        data[start:end] for start, end in zip([0, *offsets], [*offsets, len(data)], strict=True)
    ]


@PROPERTY_SETTINGS
@given(
    data=files,
    cut_points=st.lists(st.integers(0, 400), max_size=12),
    limits=limits,
    expected_formats=expected,
)
def test_validation_never_raises_and_ignores_chunking(
    data: bytes,
    cut_points: list[int],
    limits: ValidationLimits,
    expected_formats: frozenset[DatasetFormat] | None,
) -> None:
    whole = validate_jsonl([data], limits, expected_formats)
    in_pieces = validate_jsonl(cut(data, cut_points), limits, expected_formats)

    assert in_pieces == whole
    assert whole.n_bytes == len(data)
    assert len(whole.problems) <= limits.max_reported_problems
    assert sum(whole.problem_counts.values()) >= len(whole.problems)
    assert whole.ok == (not whole.problems)
    assert isinstance(whole.summary(), str)
    examples = list(iter_examples(cut(data, cut_points), limits, expected_formats))
    assert [line for line, _ in examples] == [
        line for line, _ in iter_examples([data], limits, expected_formats)
    ]
    assert len(examples) <= whole.n_examples


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=2000), cut_points=st.lists(st.integers(0, 2000), max_size=30))
def test_arbitrary_bytes_never_raise(data: bytes, cut_points: list[int]) -> None:
    report = validate_jsonl(cut(data, cut_points))

    assert report == validate_jsonl([data])


def _rules_accept(line: bytes, fmt: DatasetFormat, limits: ValidationLimits) -> bool:
    """What the precise rules say about a line in a file of format ``fmt``."""
    findings = LineFindings(1)
    example = parse_line(line, limits, findings)
    if example is None or detect_format(example) not in (None, fmt):
        return False
    check_example(example, fmt, limits, findings)
    return not findings.problems and not findings.warnings


@PROPERTY_SETTINGS
@given(
    example=examples,
    file_format=st.none() | st.sampled_from(list(DatasetFormat)),
    max_json_depth=st.integers(8, 12),
    max_messages=st.integers(1, 6),
)
def test_fast_path_accepts_exactly_what_the_rules_accept(
    example: Any, file_format: DatasetFormat | None, max_json_depth: int, max_messages: int
) -> None:
    """``file_format`` None: the file has the example's own format (the common case)."""
    detected = detect_format(example) if isinstance(example, dict) else None
    fmt = file_format or detected or DatasetFormat.CHAT
    limits = ValidationLimits(max_json_depth=max_json_depth, max_messages_per_example=max_messages)
    line = msgspec.json.encode(example)

    assert FastPath(fmt, limits).accepts(line) == _rules_accept(line, fmt, limits)


def _fast_path_agrees_on_hand_written_json(example: Any, file_format: DatasetFormat) -> None:
    """Huge and precise numbers, NaN, lone surrogates, duplicate keys, deep or huge containers
    anywhere in an example: both paths give the same verdict."""
    line = to_json(example)
    limits = ValidationLimits()

    assert FastPath(file_format, limits).accepts(line) == _rules_accept(line, file_format, limits)


_hand_written = {
    "example": spliced(examples | valid_chat | valid_preference | valid_completion),
    "file_format": st.sampled_from(list(DatasetFormat)),
}
test_fast_path_agrees_on_hand_written_json = PROPERTY_SETTINGS(
    given(**_hand_written)(_fast_path_agrees_on_hand_written_json)
)
test_fast_path_agrees_on_hand_written_json_long = long_hunt(
    given(**_hand_written)(_fast_path_agrees_on_hand_written_json)
)


@PROPERTY_SETTINGS
@given(
    data=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"defgh", b"\r\n"]), max_size=40).map(
        b"".join
    ),
    cut_points=st.lists(st.integers(0, 100), max_size=10),
    max_line_bytes=st.integers(1, 8),
)
def test_split_lines_matches_bytes_split(
    data: bytes, cut_points: list[int], max_line_bytes: int
) -> None:
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()  # a final newline ends the last line; it does not start one
    expected_lines = [line if len(line) <= max_line_bytes else None for line in expected]

    split = list(split_lines(cut(data, cut_points), max_line_bytes))

    assert split == list(enumerate(expected_lines, start=1))
