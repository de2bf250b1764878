"""``ftapi evals``: create an eval, run it (over given samples or a model's answers), watch a run
with a progress bar, and compare two runs (e.g. a base model against its fine-tuned model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.client.connection import (
    DEFAULT_BASE_URL,
    ApiClient,
    ApiKeyOption,
    BaseUrlOption,
    JsonOption,
    api_session,
)
from cli.client.eval_compare import find_disagreements, output_items
from cli.client.eval_inputs import (
    load_criteria,
    load_object,
    parse_pairs,
    run_data_source,
)
from cli.client.eval_report import comparison_json, print_comparison
from cli.client.eval_watch import pass_rate_text, run_path, wait_for_run, watch_run
from cli.client.tables import print_json

evals_app = typer.Typer(no_args_is_help=True, help="Evals: grade a model's answers, compare runs.")

EvalId = Annotated[str, typer.Argument(help="The eval's id (eval_...).", show_default=False)]
RunId = Annotated[str, typer.Argument(help="A run's id (evalrun_...).", show_default=False)]
MetadataOption = Annotated[
    list[str] | None, typer.Option(help="KEY=VALUE, repeatable.", show_default=False)
]


def _metadata(pairs: list[str] | None) -> dict[str, Any]:
    metadata = parse_pairs(pairs or [], option="--metadata", json_values=False)
    return {"metadata": metadata} if metadata else {}


@evals_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="The eval's name.", show_default=False)],
    item_schema: Annotated[
        str,
        typer.Option(
            help="JSON schema of an item: a .json/.yaml file, or JSON.", show_default=False
        ),
    ],
    criteria: Annotated[
        str,
        typer.Option(
            help="Testing criteria (graders): a .json/.yaml file, or JSON.", show_default=False
        ),
    ],
    include_sample_schema: Annotated[
        bool, typer.Option(help="Let graders read the sample ({{sample.output_text}}).")
    ] = True,
    metadata: MetadataOption = None,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create an eval; print its id."""
    body: dict[str, Any] = {
        "name": name,
        "data_source_config": {
            "type": "custom",
            "item_schema": load_object(item_schema, option="--item-schema"),
            "include_sample_schema": include_sample_schema,
        },
        "testing_criteria": load_criteria(criteria),
    } | _metadata(metadata)
    with api_session(base_url, api_key) as api:
        evaluation = api.post("evals", json=body)
    if json_output:
        print_json(evaluation)
    else:
        typer.echo(evaluation["id"])


@evals_app.command("run")
def run(
    eval_id: EvalId,
    file: Annotated[
        str | None, typer.Option("--file", help="Items: a JSONL file id (file-...).")
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(
            help='Items: a local JSONL file, one {"item": ..., "sample": ...} per line.',
            dir_okay=False,
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Sample this model for each item (a completions run).")
    ] = None,
    input_messages: Annotated[
        str | None,
        typer.Option(help="With --model: the messages template, a .json/.yaml file or JSON."),
    ] = None,
    sampling: Annotated[
        list[str] | None,
        typer.Option(
            help="With --model: a sampling parameter as KEY=VALUE (e.g. temperature=0), "
            "repeatable.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="The run's name.")] = None,
    metadata: MetadataOption = None,
    watch: Annotated[bool, typer.Option(help="Then watch it until it ends.")] = False,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Start a run of an eval; print its id. With --watch, follow it and exit 0 only if it
    completes."""
    data_source = run_data_source(
        file_id=file, jsonl=jsonl, model=model, input_messages=input_messages,
        sampling=sampling or [],
    )  # fmt: skip
    body: dict[str, Any] = {"data_source": data_source} | _metadata(metadata)
    if name is not None:
        body["name"] = name
    with api_session(base_url, api_key) as api:
        created = api.post(f"evals/{eval_id}/runs", json=body)
        if json_output and not watch:
            print_json(created)
        elif not json_output:
            typer.echo(created["id"])
        if watch:
            _finish_watch(api, eval_id, created["id"], json_output)


@evals_app.command("watch")
def watch(
    eval_id: EvalId,
    run_id: RunId,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Follow a run (items graded of the total, pass rate so far) until it ends; exit 0 only
    if it completed. --json prints the run as it ended."""
    with api_session(base_url, api_key) as api:
        _finish_watch(api, eval_id, run_id, json_output)


def _finish_watch(api: ApiClient, eval_id: str, run_id: str, json_output: bool) -> None:
    if json_output:
        ended = wait_for_run(api, eval_id, run_id)
        print_json(ended)
    else:
        ended = watch_run(api, eval_id, run_id)
        typer.echo(_outcome(ended))
    if ended["status"] != "completed":
        raise typer.Exit(1)


def _outcome(run: dict[str, Any]) -> str:
    """``evalrun_... completed: 15/20 passed (75.0%)``, or the run's error."""
    counts = run.get("result_counts") or {}
    passed, graded = int(counts.get("passed") or 0), int(counts.get("total") or 0)
    line = (
        f"{run['id']} {run['status']}: {passed}/{graded} passed ({pass_rate_text(passed, graded)})"
    )
    error = run.get("error") or {}
    if run["status"] == "failed" and error.get("message"):
        line += f"; {error['message']} ({error.get('code')})"
    return line


@evals_app.command("compare")
def compare(
    eval_id: EvalId,
    run_a: Annotated[str, typer.Argument(help="Run A (e.g. the base model's run).")],
    run_b: Annotated[str, typer.Argument(help="Run B (e.g. the fine-tuned model's run).")],
    limit: Annotated[
        int, typer.Option(help="Show at most this many disagreeing items (0: all).", min=0)
    ] = 10,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Pass rates per criterion side by side with the change from A to B, and the items on
    which the runs disagree (passed in one, failed or errored in the other)."""
    with api_session(base_url, api_key) as api:
        a = api.get(run_path(eval_id, run_a))
        b = api.get(run_path(eval_id, run_b))
        found = find_disagreements(
            output_items(api, eval_id, run_a), output_items(api, eval_id, run_b)
        )
    shown = found.items if limit == 0 else found.items[:limit]
    if json_output:
        print_json(comparison_json(eval_id, a, b, found, shown))
        return
    print_comparison(a, b, found, shown)
