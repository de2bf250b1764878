"""``ftapi jobs``: create, list, inspect, control and watch fine-tuning jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import typer

from cli.client.connection import (
    DEFAULT_BASE_URL,
    ApiClient,
    ApiKeyOption,
    BaseUrlOption,
    JsonOption,
    api_session,
    fail,
)
from cli.client.job_eval import summary_lines
from cli.client.tables import format_timestamp, print_fields, print_json, print_table, show
from cli.client.watch import watch_job

jobs_app = typer.Typer(no_args_is_help=True, help="Fine-tuning jobs.")

ShownStatus = Literal[
    "validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled"
]
JobId = Annotated[str, typer.Argument(help="The job's id (ftjob-...).", show_default=False)]
LIST_PAGE_SIZE = 100


def shown_status(job: dict[str, Any]) -> str:
    """The job's status as people think of it: a paused job reads ``paused``, not ``queued``."""
    return "paused" if job.get("paused") else str(job["status"])


def _print_job(job: dict[str, Any]) -> None:
    hyper = job.get("hyperparameters") or {}
    error = job.get("error")
    print_fields(
        [
            ("id", job["id"]),
            ("status", shown_status(job)),
            ("model", job["model"]),
            ("method", (job.get("method") or {}).get("type")),
            ("training file", job["training_file"]),
            ("validation file", job.get("validation_file")),
            ("hyperparameters", ", ".join(f"{k}={v}" for k, v in hyper.items()) or None),
            ("fine-tuned model", job.get("fine_tuned_model")),
            ("trained tokens", job.get("trained_tokens")),
            ("created", format_timestamp(job.get("created_at"))),
            ("finished", format_timestamp(job.get("finished_at"))),
            ("error", None if not error else f"{error['message']} ({error['code']})"),
        ]
    )


def _method_body(
    method: str,
    n_epochs: int | None,
    batch_size: int | None,
    lr_multiplier: float | None,
    beta: float | None,
) -> dict[str, Any]:
    if beta is not None and method != "dpo":
        fail("--beta applies to --method dpo only")
    given = {
        "n_epochs": n_epochs,
        "batch_size": batch_size,
        "learning_rate_multiplier": lr_multiplier,
        "beta": beta,
    }
    hyperparameters = {name: value for name, value in given.items() if value is not None}
    block = {"hyperparameters": hyperparameters} if hyperparameters else {}
    return {"type": method, method: block}


def _metadata(pairs: list[str]) -> dict[str, str] | None:
    metadata = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--metadata takes KEY=VALUE, got {pair!r}")
        metadata[key] = value
    return metadata or None


def _finish_watch(api: ApiClient, job_id: str, json_output: bool) -> None:
    job = watch_job(api, job_id, json_lines=json_output)
    status = shown_status(job)
    if not json_output:
        for line in summary_lines(job.get("eval_summary")):
            typer.echo(line)
        typer.echo(f"{job_id} {status}" + _outcome(job))
    if status != "succeeded":
        raise typer.Exit(1)


def _outcome(job: dict[str, Any]) -> str:
    if job.get("fine_tuned_model"):
        return f": {job['fine_tuned_model']}"
    if job.get("error"):
        return f": {job['error']['message']} ({job['error']['code']})"
    return ""


@jobs_app.command("create")
def create(
    model: Annotated[str, typer.Option(help="Base model to fine-tune.", show_default=False)],
    training_file: Annotated[str, typer.Option(help="Training file id.", show_default=False)],
    validation_file: Annotated[str | None, typer.Option(help="Validation file id.")] = None,
    suffix: Annotated[
        str | None, typer.Option(help="Added to the fine-tuned model's name.")
    ] = None,
    method: Annotated[
        Literal["supervised", "dpo"], typer.Option(help="Fine-tuning method.")
    ] = "supervised",
    n_epochs: Annotated[int | None, typer.Option(help="Epochs (default: auto).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default: auto).")] = None,
    learning_rate_multiplier: Annotated[
        float | None, typer.Option(help="Learning-rate multiplier (default: auto).")
    ] = None,
    beta: Annotated[float | None, typer.Option(help="DPO beta (default: auto).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for a reproducible run.")] = None,
    metadata: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE, repeatable.", show_default=False)
    ] = None,
    watch: Annotated[bool, typer.Option(help="Then watch it until it ends.")] = False,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a fine-tuning job; with --watch, follow it and exit 0 only if it succeeds."""
    body: dict[str, Any] = {
        "model": model,
        "training_file": training_file,
        "method": _method_body(method, n_epochs, batch_size, learning_rate_multiplier, beta),
    }
    optional = {"validation_file": validation_file, "suffix": suffix, "seed": seed}
    body |= {name: value for name, value in optional.items() if value is not None}
    if (pairs := _metadata(metadata or [])) is not None:
        body["metadata"] = pairs
    with api_session(base_url, api_key) as api:
        job = api.post("fine_tuning/jobs", json=body)
        if json_output and not watch:
            print_json(job)
        elif not json_output:
            _print_job(job)
        if watch:
            _finish_watch(api, job["id"], json_output)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[
        ShownStatus | None, typer.Option(help="Only jobs in this status.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many jobs.", min=1)] = 20,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the project's jobs, newest first."""
    jobs: list[dict[str, Any]] = []
    with api_session(base_url, api_key) as api:
        after: str | None = None
        while len(jobs) < limit:
            params: dict[str, Any] = {"limit": LIST_PAGE_SIZE if status else limit - len(jobs)}
            if after is not None:
                params["after"] = after
            page = api.get("fine_tuning/jobs", params=params)
            jobs += [job for job in page["data"] if status in (None, shown_status(job))]
            if not page.get("has_more") or not page["data"]:
                break
            after = page["data"][-1]["id"]
    jobs = jobs[:limit]
    if json_output:
        print_json(jobs)
        return
    print_table(
        ["id", "status", "model", "fine-tuned model", "created"],
        [
            [
                job["id"],
                shown_status(job),
                job["model"],
                job.get("fine_tuned_model"),
                format_timestamp(job.get("created_at")),
            ]
            for job in jobs
        ],
    )


@jobs_app.command("get")
def get(
    job_id: JobId,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one job."""
    with api_session(base_url, api_key) as api:
        job = api.get(f"fine_tuning/jobs/{job_id}")
    show(job, json_output=json_output, human=_print_job)


# The job controls: POST /fine_tuning/jobs/{id}/<action>, each answering the job.
CONTROLS = {
    "cancel": "Cancel a job that has not finished.",
    "pause": "Pause a queued or running job (it checkpoints and frees its GPU).",
    "resume": "Resume a paused job from its latest checkpoint.",
}


def _control_command(action: str) -> Callable[..., None]:
    def control(
        job_id: JobId,
        base_url: BaseUrlOption = DEFAULT_BASE_URL,
        api_key: ApiKeyOption = None,
        json_output: JsonOption = False,
    ) -> None:
        with api_session(base_url, api_key) as api:
            job = api.post(f"fine_tuning/jobs/{job_id}/{action}")
        show(
            job,
            json_output=json_output,
            human=lambda job: typer.echo(f"{job['id']} {shown_status(job)}"),
        )

    return control


for _action, _help in CONTROLS.items():
    jobs_app.command(_action, help=_help)(_control_command(_action))


@jobs_app.command("watch")
def watch(
    job_id: JobId,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Follow a job live (step, loss sparkline, ETA) until it ends; exit 0 only if it succeeded.

    --json prints one event per line.
    """
    with api_session(base_url, api_key) as api:
        _finish_watch(api, job_id, json_output)
