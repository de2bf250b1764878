"""What the validator finds: stable problem and warning codes, and the report of one file.

Codes are part of the API (they end up in a file's ``status_details`` and in the dataset
report), so they never change meaning. Problems make a file unusable for training; warnings
describe something a user probably did not mean but that training can live with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from service.datasets.validation.formats import DatasetFormat


class ProblemCode(StrEnum):
    """Why a line (or the whole file, line 0) cannot be trained on."""

    # The bytes of a line.
    LINE_TOO_LONG = "line_too_long"
    INVALID_UTF8 = "invalid_utf8"
    NUL_CHARACTER = "nul_character"
    INVALID_JSON = "invalid_json"
    TOO_DEEP = "too_deep"
    NOT_AN_OBJECT = "not_an_object"
    FORMAT_MISMATCH = "format_mismatch"
    # Chat messages (also the messages of a preference input).
    MISSING_MESSAGES = "missing_messages"
    TOO_MANY_MESSAGES = "too_many_messages"
    INVALID_MESSAGE = "invalid_message"
    MISSING_ROLE = "missing_role"
    UNRECOGNIZED_ROLE = "unrecognized_role"
    UNRECOGNIZED_KEY = "unrecognized_key"
    INVALID_TYPE = "invalid_type"
    MISSING_CONTENT = "missing_content"
    INVALID_CONTENT = "invalid_content"
    IMAGE_NOT_ALLOWED = "image_not_allowed"
    INVALID_TOOL_CALLS = "invalid_tool_calls"
    MISSING_TOOL_CALL_ID = "missing_tool_call_id"
    MISSING_NAME = "missing_name"
    INVALID_WEIGHT = "invalid_weight"
    MISSING_ASSISTANT_MESSAGE = "missing_assistant_message"
    NO_TRAINED_TOKENS = "no_trained_tokens"
    INVALID_TOOLS = "invalid_tools"
    # Preference examples.
    MISSING_INPUT = "missing_input"
    INVALID_INPUT = "invalid_input"
    MISSING_OUTPUT = "missing_output"
    INVALID_OUTPUT = "invalid_output"
    # Prompt/completion examples.
    MISSING_PROMPT = "missing_prompt"
    MISSING_COMPLETION = "missing_completion"
    # The whole file (line 0).
    EMPTY_FILE = "empty_file"
    TOO_FEW_EXAMPLES = "too_few_examples"
    TOO_MANY_EXAMPLES = "too_many_examples"


class WarningCode(StrEnum):
    """Something probably unintended that does not stop training."""

    NO_USER_MESSAGE = "no_user_message"
    IGNORED_KEY = "ignored_key"
    IGNORED_WEIGHT = "ignored_weight"
    IDENTICAL_OUTPUTS = "identical_outputs"


@dataclass(frozen=True)
class Problem:
    """One finding: ``line`` is 1-based (0 for the whole file), ``param`` the JSON path."""

    code: str
    line: int
    param: str | None
    message: str

    def describe(self) -> str:
        """``line 3, messages[1].role: unrecognized_role: ...`` for logs and summaries."""
        where = "file" if self.line == 0 else f"line {self.line}"
        if self.param:
            where += f", {self.param}"
        return f"{where}: {self.code}: {self.message}"


_SUMMARY_PROBLEMS = 5


@dataclass
class ValidationReport:
    """The outcome of validating one file: the first problems and warnings, and counts of all."""

    format: DatasetFormat | None
    n_examples: int
    problems: list[Problem]
    problem_counts: dict[str, int]
    warnings: list[Problem]
    warning_counts: dict[str, int]
    n_bytes: int

    @property
    def ok(self) -> bool:
        """True when the file can be trained on (warnings allowed)."""
        return not self.problem_counts

    def summary(self) -> str:
        """One paragraph for a file's ``status_details``: the first problems with line numbers."""
        if self.ok:
            kind = self.format.value if self.format else "unknown"
            text = f"Valid {kind} file with {self.n_examples} examples."
            n_warnings = sum(self.warning_counts.values())
            if n_warnings:
                text += f" {n_warnings} warning(s), first: {self.warnings[0].describe()}."
            return text
        n_problems = sum(self.problem_counts.values())
        shown = self.problems[:_SUMMARY_PROBLEMS]
        text = f"Found {n_problems} problem(s) in {self.n_examples} examples: "
        text += "; ".join(problem.describe() for problem in shown)
        if n_problems > len(shown):
            counts = ", ".join(f"{code} x{count}" for code, count in self.problem_counts.items())
            text += f"; and {n_problems - len(shown)} more (all problems: {counts})"
        return text + "."


@dataclass
class FindingLog:
    """Keeps the first ``max_reported`` findings of one kind and counts every one by code."""

    max_reported: int
    reported: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, problem: Problem) -> None:
        """Count ``problem`` and keep it if fewer than ``max_reported`` are kept."""
        self.counts[problem.code] = self.counts.get(problem.code, 0) + 1
        if len(self.reported) < self.max_reported:
            self.reported.append(problem)


@dataclass
class LineFindings:
    """The problems and warnings of one line, collected while its rules run."""

    line: int
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def problem(self, code: ProblemCode, param: str | None, message: str) -> None:
        """Record a problem at ``param`` (a JSON path, None for the whole line)."""
        self.problems.append(Problem(code.value, self.line, param, message))

    def warning(self, code: WarningCode, param: str | None, message: str) -> None:
        """Record a warning at ``param``."""
        self.warnings.append(Problem(code.value, self.line, param, message))
