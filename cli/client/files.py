"""``ftapi files``: upload (with progress; big files through the Uploads API), list, get, delete,
and validate a training file locally before uploading it."""

from __future__ import annotations

import time
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
    fail,
)
from cli.client.progress import transfer_progress
from cli.client.tables import (
    echo_deleted,
    format_timestamp,
    print_fields,
    print_json,
    print_table,
    show,
)
from cli.client.units import format_bytes, parse_size
from cli.client.uploading import (
    DEFAULT_PART_SIZE,
    DEFAULT_UPLOADS_THRESHOLD,
    MAX_PART_BYTES,
    upload_file,
)
from cli.client.validate import validate

files_app = typer.Typer(no_args_is_help=True, help="Files: training data and results.")
files_app.command("validate")(validate)

FileId = Annotated[str, typer.Argument(help="The file's id (file-...).", show_default=False)]
PROCESSING_POLL_S = 0.5
PROCESSING_TIMEOUT_S = 600.0


def _size_option(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _print_file(file: dict[str, Any]) -> None:
    print_fields(
        [
            ("id", file["id"]),
            ("filename", file["filename"]),
            ("purpose", file["purpose"]),
            ("bytes", f"{file['bytes']} ({format_bytes(file['bytes'])})"),
            ("status", file.get("status")),
            ("details", file.get("status_details")),
            ("created", format_timestamp(file.get("created_at"))),
            ("expires", format_timestamp(file.get("expires_at"))),
        ]
    )


def _wait_until_processed(api: ApiClient, file: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + PROCESSING_TIMEOUT_S
    while file.get("status") == "uploaded" and time.monotonic() < deadline:
        time.sleep(PROCESSING_POLL_S)
        file = api.get(f"files/{file['id']}")
    return file


@files_app.command("upload")
def upload(
    path: Annotated[Path, typer.Argument(help="The file to send.", dir_okay=False)],
    purpose: Annotated[str, typer.Option(help="What the file is for.")] = "fine-tune",
    part_size: Annotated[
        str, typer.Option(help="Part size for the Uploads API (at most 64MiB).")
    ] = DEFAULT_PART_SIZE,
    uploads_threshold: Annotated[
        str, typer.Option(help="Files larger than this go through the Uploads API in parts.")
    ] = DEFAULT_UPLOADS_THRESHOLD,
    wait: Annotated[
        bool, typer.Option(help="Wait for validation; exit 1 if the file is refused.")
    ] = False,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Upload a file with a progress bar (on stderr); print its id."""
    part_bytes = _size_option(part_size)
    threshold_bytes = _size_option(uploads_threshold)
    if part_bytes > MAX_PART_BYTES:
        raise typer.BadParameter("at most 64MiB", param_hint="--part-size")
    if not path.is_file():
        fail(f"{path} is not a file")
    size = path.stat().st_size
    with api_session(base_url, api_key) as api:
        with transfer_progress(f"upload {path.name}", size) as progress:
            file = upload_file(
                api,
                path,
                purpose,
                progress,
                uploads_threshold_bytes=threshold_bytes,
                part_bytes=part_bytes,
            )
        if wait:
            file = _wait_until_processed(api, file)
    show(file, json_output=json_output, human=lambda file: typer.echo(file["id"]))
    if file.get("status") == "error":
        fail(f"{file['id']} was refused: {file.get('status_details')} (invalid_file)")


@files_app.command("list")
def list_files(
    purpose: Annotated[str | None, typer.Option(help="Only files with this purpose.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many files.", min=1)] = 100,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the project's files, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if purpose is not None:
        params["purpose"] = purpose
    with api_session(base_url, api_key) as api:
        files = api.get("files", params=params)["data"]
    if json_output:
        print_json(files)
        return
    print_table(
        ["id", "filename", "purpose", "bytes", "status", "created"],
        [
            [
                file["id"],
                file["filename"],
                file["purpose"],
                file["bytes"],
                file.get("status"),
                format_timestamp(file.get("created_at")),
            ]
            for file in files
        ],
    )


@files_app.command("get")
def get(
    file_id: FileId,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one file's metadata (and why it was refused, if it was)."""
    with api_session(base_url, api_key) as api:
        file = api.get(f"files/{file_id}")
    show(file, json_output=json_output, human=_print_file)


@files_app.command("delete")
def delete(
    file_id: FileId,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Delete a file."""
    with api_session(base_url, api_key) as api:
        answer = api.delete(f"files/{file_id}")
    show(answer, json_output=json_output, human=echo_deleted)
