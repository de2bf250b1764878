"""``ftapi files validate``: a training file checked here, before any upload, by the server's code.

The same validator the ctl worker runs on stored files
(``service.datasets.validation.validator``) and, when a tokenizer is at hand, the same dataset
report as ``GET /v1/files/{id}/report`` (``service.datasets.reports.dataset_report``). A
tokenizer comes from ``--model``: a model directory, or the id of a registry entry with a local
``path`` (``FTAPI_MODELS__REGISTRY_PATH``); without one the token counts are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.client.connection import JsonOption, fail
from cli.client.tables import print_fields, print_json
from cli.client.units import format_bytes
from service.settings import Settings

if TYPE_CHECKING:  # the dataset code loads when the command runs, not with every ftapi command
    from service.datasets.reports.dataset_report import DatasetReport
    from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
    from service.datasets.validation.limits import ValidationLimits
    from service.datasets.validation.problems import Problem, ValidationReport

READ_CHUNK_BYTES = 1024 * 1024
SHOWN_FINDINGS = 10


def validate(
    path: Annotated[Path, typer.Argument(help="A JSONL training file.", dir_okay=False)],
    model: Annotated[
        str | None,
        typer.Option(
            help="Count tokens for this base model: a registry id with a local path, or a model "
            "directory. Without it the token counts are skipped."
        ),
    ] = None,
    method: Annotated[
        str | None, typer.Option(help="Check the format fits this method: supervised or dpo.")
    ] = None,
    min_examples: Annotated[
        int | None,
        typer.Option(
            help="Fewest examples accepted (default: the training minimum; 1 for a validation "
            "file).",
            min=0,
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Check a training file here, before uploading it; exit 1 if it cannot be trained on.

    The server's own checks: format, every line, and token counts with --model.
    """
    from service.datasets.validation.formats import formats_for_method
    from service.datasets.validation.limits import training_data_limits
    from service.datasets.validation.validator import validate_jsonl

    if not path.is_file():
        fail(f"{path} is not a file")
    settings = Settings()
    minimum = settings.limits.min_training_examples if min_examples is None else min_examples
    limits = training_data_limits(settings, min_examples=minimum)
    try:
        expected = None if method is None else formats_for_method(method)
    except ValueError as exc:
        fail(str(exc))
    validation = validate_jsonl(_chunks_of(path), limits, expected)
    report = None
    if model is not None and validation.ok:
        report = _token_report(path, model, settings, limits)
    ok = validation.ok and (report is None or _trainable(report))
    if json_output:
        print_json(_as_json(path, validation, report, ok))
    else:
        _print_validation(path, validation)
        if report is not None:
            _print_report(report)
        elif model is None and validation.ok:
            typer.echo("tokens: skipped (pass --model to count them)")
    if not ok:
        raise typer.Exit(1)


def _chunks_of(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK_BYTES):
            yield chunk


def _token_report(
    path: Path, model: str, settings: Settings, limits: ValidationLimits
) -> DatasetReport:
    from service.datasets.reports.dataset_report import report_of_jsonl
    from service.errors import FtapiError

    try:
        model_id, tokenizer = _tokenizer_for(model, settings)
        return report_of_jsonl(_chunks_of(path), tokenizer, model=model_id, limits=limits)
    except (FtapiError, OSError, ValueError) as exc:
        fail(f"cannot load the tokenizer of {model}: {exc}")


def _tokenizer_for(model: str, settings: Settings) -> tuple[str, ChatTokenizer]:
    """``model`` as a directory, else as a registry id whose files are on this machine."""
    from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
    from service.models.registry import ModelRegistry

    directory = Path(model)
    if (directory / "tokenizer.json").is_file():
        return str(directory), ChatTokenizer.from_model_dir(directory)
    spec = ModelRegistry.from_file(settings.models.registry_path).require(model)
    if spec.path is None:
        raise ValueError(
            f"registry entry {model} names no local path; pass --model DIR with its files"
        )
    tokenizer = ChatTokenizer.from_model_dir(
        spec.path, max_seq_length=spec.max_seq_length, chat_template=spec.chat_template
    )
    return spec.id, tokenizer


def _trainable(report: DatasetReport) -> bool:
    fatal = any(issue.severity == "error" for issue in report.issues)
    return not fatal and report.n_trainable_examples > 0


def _print_validation(path: Path, validation: ValidationReport) -> None:
    size = format_bytes(validation.n_bytes)
    kind = validation.format.value if validation.format else "unknown-format"
    if validation.ok:
        typer.echo(f"{path.name}: valid {kind} file, {validation.n_examples} examples ({size})")
    else:
        n_problems = sum(validation.problem_counts.values())
        typer.echo(
            f"{path.name}: INVALID: {n_problems} problem(s) in {validation.n_examples} "
            f"examples ({size})"
        )
        _print_findings("problems", validation.problem_counts, validation.problems)
    if validation.warning_counts:
        _print_findings("warnings", validation.warning_counts, validation.warnings)


def _print_findings(title: str, counts: dict[str, int], first: list[Problem]) -> None:
    typer.echo(f"{title}: " + ", ".join(f"{code} x{n}" for code, n in counts.items()))
    for finding in first[:SHOWN_FINDINGS]:
        typer.echo(f"  {finding.describe()}")
    if sum(counts.values()) > SHOWN_FINDINGS:
        typer.echo(f"  (first {SHOWN_FINDINGS} shown)")


def _print_report(report: DatasetReport) -> None:
    spread = report.tokens_per_example
    print_fields(
        [
            ("model", f"{report.model} (max_seq_length {report.max_seq_length})"),
            ("trainable", f"{report.n_trainable_examples} of {report.n_examples} examples"),
            ("tokens", f"{report.total_tokens} ({report.trained_tokens} trained)"),
            (
                "per example",
                None
                if spread is None
                else f"min {spread.min}, p50 {spread.p50}, p95 {spread.p95}, max {spread.max}",
            ),
            ("truncated", report.n_truncated),
        ]
    )
    if report.issues:
        typer.echo(
            "token issues: " + ", ".join(f"{c} x{n}" for c, n in report.issue_counts.items())
        )
        for issue in report.issues[:SHOWN_FINDINGS]:
            where = f"line {issue.line}" + (f", {issue.param}" if issue.param else "")
            typer.echo(f"  {where}: {issue.severity}: {issue.code}: {issue.message}")


def _as_json(
    path: Path, validation: ValidationReport, report: DatasetReport | None, ok: bool
) -> dict[str, object]:
    def findings(items: list[Problem]) -> list[dict[str, object]]:
        return [
            {"line": p.line, "code": p.code, "param": p.param, "message": p.message} for p in items
        ]

    return {
        "file": str(path),
        "ok": ok,
        "format": None if validation.format is None else validation.format.value,
        "n_examples": validation.n_examples,
        "bytes": validation.n_bytes,
        "problem_counts": validation.problem_counts,
        "problems": findings(validation.problems),
        "warning_counts": validation.warning_counts,
        "warnings": findings(validation.warnings),
        "report": None if report is None else report.to_json(),
    }
