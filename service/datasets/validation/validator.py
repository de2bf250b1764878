"""Streaming validation of a training file: one pass, bounded memory, every problem counted.

Each line goes first through the fast path for the file's format (msgspec, in C); a line it
does not accept, and every line before the format is known, goes through the precise rules,
which report problems with line, JSON path and a fix. The first valid example decides the
file's format; a later line of another format is a ``format_mismatch``.

    for line_no, example in iter_examples(chunks):   # what the tokenizer consumes
        ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set
from typing import Any

import msgspec

from service.datasets.validation.fast_path import FastPath
from service.datasets.validation.formats import (
    FORMAT_PRIORITY,
    DatasetFormat,
    detect_format,
    normalize_preference_keys,
)
from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.line_crash import LineCrashed
from service.datasets.validation.line_rules import JSON_WHITESPACE, check_example, parse_line
from service.datasets.validation.lines import split_line_blocks, split_lines
from service.datasets.validation.problems import (
    FindingLog,
    LineFindings,
    Problem,
    ProblemCode,
    ValidationReport,
)

DEFAULT_LIMITS = ValidationLimits()


def validate_jsonl(
    chunks: Iterable[bytes],
    limits: ValidationLimits = DEFAULT_LIMITS,
    expected_formats: Set[DatasetFormat] | None = None,
) -> ValidationReport:
    """Validate a JSONL training file given as byte chunks of any size; never raises on content.

    ``expected_formats`` is what the job's method accepts (see ``formats_for_method``); a file
    of another format gets a file-level ``format_mismatch``. A bug that strikes while checking
    a line raises ``LineCrashed`` naming it (what ``chunks`` raises passes through unchanged).
    """
    counted = _CountingChunks(chunks)
    validator = _FileValidator(limits, expected_formats)
    for first_line_no, lines in split_line_blocks(counted, limits.max_line_bytes):
        validator.check_block(first_line_no, lines)
    return validator.report(counted.n_bytes)


def iter_examples(
    chunks: Iterable[bytes],
    limits: ValidationLimits = DEFAULT_LIMITS,
    expected_formats: Set[DatasetFormat] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, example)`` for each valid example, skipping invalid lines.

    Run :func:`validate_jsonl` first to know whether the file is usable; this only streams the
    good examples. Preference examples come with the ``*_completion`` aliases renamed to
    ``preferred_output`` / ``non_preferred_output``; use ``detect_format`` for an example's format.
    """
    validator = _FileValidator(limits, expected_formats)
    for line_no, line in split_lines(chunks, limits.max_line_bytes):
        try:
            if line is None or not validator.check(line_no, line):
                continue
            example = validator.parsed
            if example is None:
                example = msgspec.json.decode(line)
            if validator.format is DatasetFormat.PREFERENCE:
                normalize_preference_keys(example)
        except Exception as exc:
            raise LineCrashed(line_no) from exc
        yield line_no, example


class _CountingChunks:
    """Passes chunks through and counts their bytes."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.n_bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.n_bytes += len(chunk)
            yield chunk


class _FileValidator:
    """The state of one file's validation: its format, counts and findings so far."""

    def __init__(self, limits: ValidationLimits, expected_formats: Set[DatasetFormat] | None):
        self._limits = limits
        self._expected = frozenset(expected_formats) if expected_formats else None
        self.format: DatasetFormat | None = None
        self._format_line = 0
        self._fast_path: FastPath | None = None
        self.n_examples = 0
        self._problems = FindingLog(limits.max_reported_problems)
        self._warnings = FindingLog(limits.max_reported_problems)
        self.parsed: dict[str, Any] | None = None
        """The example of the last valid line when the precise rules decoded it."""

    def check_block(self, first_line_no: int, lines: list[bytes | None]) -> None:
        """Validate consecutive lines: :meth:`check` with the common case inlined, for speed."""
        accepts = self._fast_path.accepts if self._fast_path is not None else None
        n_fast = 0
        line_no = first_line_no
        try:  # free unless it raises (Python 3.11+), so around the loop, not each line
            for line_no, line in enumerate(lines, start=first_line_no):
                if accepts is not None and line is not None and accepts(line):
                    n_fast += 1
                else:
                    self.check(line_no, line)
                    accepts = self._fast_path.accepts if self._fast_path is not None else None
        except Exception as exc:
            raise LineCrashed(line_no) from exc
        self.n_examples += n_fast

    def check(self, line_no: int, line: bytes | None) -> bool:
        """Validate one line (None: too long); True when it holds a valid example."""
        self.parsed = None
        if line is None:
            self.n_examples += 1
            self._problems.add(
                Problem(
                    ProblemCode.LINE_TOO_LONG.value,
                    line_no,
                    None,
                    f"line is longer than {self._limits.max_line_bytes} bytes; "
                    "shorten the example or split it",
                )
            )
            return False
        if self._fast_path is not None and self._fast_path.accepts(line):
            self.n_examples += 1
            return True
        return self._check_precisely(line_no, line)

    def _check_precisely(self, line_no: int, line: bytes) -> bool:
        if not line.strip(JSON_WHITESPACE):
            return False  # blank lines are allowed and are not examples
        self.n_examples += 1
        findings = LineFindings(line_no)
        example = parse_line(line, self._limits, findings)
        line_format = None
        if example is not None:
            line_format = detect_format(example)
            if self.format is not None and line_format not in (None, self.format):
                findings.problem(
                    ProblemCode.FORMAT_MISMATCH,
                    None,
                    f"this is a {line_format} example but the file's first valid example "
                    f"(line {self._format_line}) is {self.format}; use one format per file",
                )
            else:
                line_format = line_format or self.format or self._likely_format()
                check_example(example, line_format, self._limits, findings)
        for problem in findings.problems:
            self._problems.add(problem)
        for warning in findings.warnings:
            self._warnings.add(warning)
        if findings.problems or example is None or line_format is None:
            return False
        if self.format is None:
            self.format, self._format_line = line_format, line_no
            self._fast_path = FastPath(line_format, self._limits)
        self.parsed = example
        return True

    def _likely_format(self) -> DatasetFormat:
        """What a line that shows no format was probably meant to be."""
        for fmt in FORMAT_PRIORITY:
            if self._expected is None or fmt in self._expected:
                return fmt
        return DatasetFormat.CHAT

    def report(self, n_bytes: int) -> ValidationReport:
        """The report, file-level problems first so they are never cut off."""
        file_findings = LineFindings(0)
        limits = self._limits
        if self.n_examples == 0:
            file_findings.problem(
                ProblemCode.EMPTY_FILE, None, "the file holds no examples: one JSON object per line"
            )
        elif self.n_examples < limits.min_examples:
            file_findings.problem(
                ProblemCode.TOO_FEW_EXAMPLES,
                None,
                f"the file has {self.n_examples} example(s); training needs at least "
                f"{limits.min_examples}",
            )
        if self.n_examples > limits.max_examples:
            file_findings.problem(
                ProblemCode.TOO_MANY_EXAMPLES,
                None,
                f"the file has {self.n_examples} examples; at most {limits.max_examples} "
                "are allowed",
            )
        if (
            self._expected is not None
            and self.format is not None
            and self.format not in self._expected
        ):
            wanted = " or ".join(fmt for fmt in FORMAT_PRIORITY if fmt in self._expected)
            file_findings.problem(
                ProblemCode.FORMAT_MISMATCH,
                None,
                f"the file is in {self.format} format but this fine-tuning method needs {wanted} "
                "examples",
            )
        counts = dict(self._problems.counts)
        for problem in file_findings.problems:
            counts[problem.code] = counts.get(problem.code, 0) + 1
        reported = file_findings.problems + self._problems.reported
        return ValidationReport(
            format=self.format,
            n_examples=self.n_examples,
            problems=reported[: limits.max_reported_problems],
            problem_counts=counts,
            warnings=self._warnings.reported,
            warning_counts=dict(self._warnings.counts),
            n_bytes=n_bytes,
        )
