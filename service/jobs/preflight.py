"""Everything that would make a fine-tuning job fail, found before a GPU is spent.

Used by ``POST /v1/fine_tuning/estimate`` (which reports every problem) and by job validation
(which fails the job with the first one). Checks: the method is supported, the model exists (a
base model, or a fine-tuned model or checkpoint the caller may use, whose root base model's
tokenizer then counts), the files exist, belong to the caller, are ``fine-tune`` files whose
content validated, match the method's format, hold enough examples, and tokenize cleanly for
the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.auth.caller import Caller
from service.datasets.reports.dataset_report import DatasetReport
from service.datasets.service import DatasetService
from service.datasets.validation.formats import DatasetFormat, formats_for_method
from service.errors import FtapiError
from service.files.records import FileRecord, FileStatus
from service.jobs.methods import MethodSpec, MethodType, ResolvedHyperparameters
from service.jobs.records import JobRequest
from service.models.access import ModelAccess


@dataclass(frozen=True)
class JobProblem:
    """One reason the job would fail: a stable code, a message and the request field at fault."""

    code: str
    message: str
    param: str | None


@dataclass
class Preflight:
    """The outcome of checking a job request."""

    problems: list[JobProblem] = field(default_factory=list)
    training_report: DatasetReport | None = None
    validation_report: DatasetReport | None = None
    method: MethodSpec | None = None  # the request's, its hyperparameters resolved
    estimated_trained_tokens: int | None = None
    estimated_duration_s: float | None = None
    learning_rate: float | None = None  # multiplier times the base's registry rate, if it has one

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    @property
    def hyperparameters(self) -> ResolvedHyperparameters | None:
        """The resolved hyperparameters, once the training data was read."""
        return None if self.method is None else self.method.hyperparameters.numbers()


class JobPreflight:
    """Checks job requests against the registry, the caller's files and their content."""

    def __init__(
        self,
        access: ModelAccess,
        datasets: DatasetService,
        *,
        min_training_examples: int,
        tokens_per_second: float,
    ) -> None:
        self._access = access
        self._datasets = datasets
        self._min_training_examples = min_training_examples
        self._tokens_per_second = tokens_per_second

    async def check(self, caller: Caller, request: JobRequest) -> Preflight:
        """Every problem of ``request``, plus reports and estimates where they can be made."""
        result = Preflight()
        method = request.method
        if not isinstance(method, MethodSpec):
            result.problems.append(
                JobProblem(
                    "unsupported_method",
                    f"method.type '{method.type}' is not supported; use 'supervised' or 'dpo'.",
                    "method.type",
                )
            )
            return result
        base = None
        try:
            base = await self._access.trainable_base(caller.project_id, request.model)
        except FtapiError as error:
            code = error.code or "model_not_available"
            result.problems.append(JobProblem(code, error.message, "model"))
        training = await self._usable_file(
            caller, request.training_file, "training_file", method.type, result
        )
        validation = None
        if request.validation_file is not None:
            validation = await self._usable_file(
                caller, request.validation_file, "validation_file", method.type, result
            )
        if training is not None and (training.n_examples or 0) < self._min_training_examples:
            result.problems.append(
                JobProblem(
                    "invalid_n_examples",
                    f"Training file has {training.n_examples or 0} example(s), but must have at "
                    f"least {self._min_training_examples} examples",
                    "training_file",
                )
            )
        if base is None:
            return result
        if training is not None:
            result.training_report = await self._datasets.report_for(training, base.id)
            self._report_problems(result.training_report, "training_file", result)
        if validation is not None:
            result.validation_report = await self._datasets.report_for(validation, base.id)
            self._report_problems(result.validation_report, "validation_file", result)
        if result.training_report is not None:
            report = result.training_report
            result.method = method.resolve(report.n_trainable_examples)
            hyperparameters = result.method.hyperparameters.numbers()
            n_epochs = hyperparameters.n_epochs
            if base.learning_rate is not None:
                result.learning_rate = base.learning_rate * hyperparameters.learning_rate_multiplier
            # OpenAI bills every token of every (truncated) example, once per epoch.
            result.estimated_trained_tokens = report.total_tokens * n_epochs
            result.estimated_duration_s = round(
                result.estimated_trained_tokens / self._tokens_per_second, 1
            )
        return result

    async def _usable_file(
        self, caller: Caller, file_id: str, param: str, method: MethodType, result: Preflight
    ) -> FileRecord | None:
        code = f"invalid_{param}"
        try:
            record = await self._datasets.training_file(caller, file_id, param=param)
        except FtapiError as error:
            result.problems.append(JobProblem(code, f"invalid {param}: {error.message}", param))
            return None
        if record.status is FileStatus.UPLOADED:
            result.problems.append(
                JobProblem(
                    "file_not_ready",
                    f"File {file_id} is still being validated; retry shortly.",
                    param,
                )
            )
            return None
        if record.status is FileStatus.ERROR:
            result.problems.append(
                JobProblem(
                    code,
                    f"The job failed due to an invalid {param.replace('_', ' ')}. "
                    f"{record.status_details or ''}".strip(),
                    param,
                )
            )
            return None
        allowed = formats_for_method(method)
        if record.data_format is not None and DatasetFormat(record.data_format) not in allowed:
            result.problems.append(
                JobProblem(
                    code,
                    f"Input file {file_id} is in the {record.data_format} format, but the job's "
                    f"method is '{method}', which takes "
                    f"{' or '.join(sorted(f.value for f in allowed))} data.",
                    param,
                )
            )
            return None
        return record

    @staticmethod
    def _report_problems(report: DatasetReport, param: str, result: Preflight) -> None:
        code = f"invalid_{param}"
        for issue in report.issues:
            if issue.severity == "error":
                where = f"Example on line {issue.line}" + (
                    f", {issue.param}" if issue.param else ""
                )
                result.problems.append(JobProblem(code, f"{where}: {issue.message}", param))
                return  # the first is enough to act on; the report lists them all
        if report.n_trainable_examples == 0:
            result.problems.append(
                JobProblem("no_trained_tokens", "No example has a token to train on.", param)
            )
