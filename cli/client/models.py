"""``ftapi models list|delete|download|import``: the models a key can use, over HTTP.

Base models (``owned_by: system``) come from the deployment's registry; fine-tuned ones belong
to the key's project and can be deleted or downloaded; a LoRA adapter trained elsewhere can be
imported as one. (Operators edit the registry with
``ftapi registry``.)
"""

from __future__ import annotations

import tarfile
import tempfile
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from cli.client.archives import UnsafeArchive, extract_model_archive, pack_adapter_directory
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
from cli.client.tables import echo_deleted, format_timestamp, print_json, print_table, show
from cli.client.uploading import upload_file

MERGED_POLL_S = 5.0  # between asks for a merged export, when the server names no Retry-After

models_app = typer.Typer(no_args_is_help=True, help="Models: base models and fine-tuned ones.")


@models_app.command("list")
def list_models(
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the base models and the project's fine-tuned models."""
    with api_session(base_url, api_key) as api:
        models = api.get("models")["data"]
    if json_output:
        print_json(models)
        return
    print_table(
        ["id", "owned by", "created"],
        # Registry models may carry no creation time (0): shown as "-".
        [[m["id"], m.get("owned_by"), format_timestamp(m.get("created") or None)] for m in models],
    )


@models_app.command("delete")
def delete(
    model: Annotated[str, typer.Argument(help="A fine-tuned model's id (ft:...).")],
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Delete one of the project's fine-tuned models."""
    with api_session(base_url, api_key) as api:
        answer = api.delete(f"models/{model}")
    show(answer, json_output=json_output, human=echo_deleted)


@models_app.command("download")
def download(
    model: Annotated[str, typer.Argument(help="A fine-tuned model's or checkpoint's id (ft:...).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The directory to extract the model into.")
    ],
    merged: Annotated[
        bool,
        typer.Option(
            "--merged",
            help="The merged model (the adapter folded into the base) instead of the adapter; "
            "waits while the server builds it.",
        ),
    ] = False,
    retry: Annotated[
        bool, typer.Option("--retry", help="With --merged: build a failed merged export again.")
    ] = False,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Download a fine-tuned model's adapter (with its tokenizer, model card and checksums) into
    a directory peft loads, or with ``--merged`` the merged model transformers loads alone;
    every file is checked against ``checksums``. Prints the directory."""
    output.mkdir(parents=True, exist_ok=True)
    params = {"format": "merged" if merged else "adapter"}
    if merged and retry:
        params["retry"] = "true"
    with tempfile.TemporaryDirectory(dir=output, prefix=".download-") as scratch:
        archive = Path(scratch) / "model.tar"
        with api_session(base_url, api_key) as api:
            _download_when_built(api, model, params, archive)
        try:
            extract_model_archive(archive, output)
        except (UnsafeArchive, tarfile.TarError, OSError) as exc:
            fail(f"{exc} (invalid_archive)")
    typer.echo(str(output))


@models_app.command("import")
def import_adapter(
    source: Annotated[
        Path,
        typer.Argument(
            help="A peft adapter directory (adapter_config.json, adapter_model.safetensors) "
            "or a tar / tar.gz of one.",
            exists=True,
        ),
    ],
    base_model: Annotated[
        str, typer.Option("--base-model", help="The base model the adapter was trained on.")
    ],
    suffix: Annotated[
        str | None, typer.Option(help="Up to 64 characters added to the model's name.")
    ] = None,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Import a LoRA adapter trained elsewhere as a fine-tuned model: upload it (a directory is
    packed into a tar first) as a ``user_data`` file, then ``POST /v1/models/import``. Prints
    the new model's id."""
    with tempfile.TemporaryDirectory(prefix="ftapi-import-") as scratch:
        archive = source
        if source.is_dir():
            archive = Path(scratch) / f"{source.name or 'adapter'}.tar"
            try:
                pack_adapter_directory(source, archive)
            except UnsafeArchive as exc:
                fail(f"{exc} (invalid_adapter)")
        with api_session(base_url, api_key) as api:
            with transfer_progress(f"upload {archive.name}", archive.stat().st_size) as progress:
                file = upload_file(api, archive, "user_data", progress)
            body = {"file": file["id"], "base_model": base_model}
            if suffix is not None:
                body["suffix"] = suffix
            model = api.post("models/import", json=body)
    show(model, json_output=json_output, human=lambda model: typer.echo(model["id"]))


def _download_when_built(api: ApiClient, model: str, params: dict[str, str], archive: Path) -> None:
    """Save the archive into ``archive``, asking again while a merged export is being built
    (202 with ``Retry-After``); error answers end the command as any other."""
    while True:
        with api.stream("GET", f"models/{model}/content", params=params) as response:
            if response.status_code != 202:
                _save(response, archive, model)
                return
            delay = float(response.headers.get("retry-after") or MERGED_POLL_S)
        params.pop("retry", None)  # one rebuild asked for is enough
        typer.echo(f"building the merged model of {model}; asking again in {delay:g}s", err=True)
        time.sleep(delay)


def _save(response: httpx.Response, archive: Path, model: str) -> None:
    total = int(response.headers.get("content-length") or 0)
    with (
        transfer_progress(f"download {model}", total) as progress,
        archive.open("wb") as out,
    ):
        for chunk in response.iter_bytes():
            out.write(chunk)
            progress.advance(len(chunk))
