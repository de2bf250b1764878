"""``ftapi models list|delete|download|import``: the models a key can use, over HTTP.

Base models (``owned_by: system``) come from the deployment's registry; fine-tuned ones belong
to the key's project and can be deleted or downloaded; a LoRA adapter trained elsewhere can be
imported as one. (Operators edit the registry with
``ftapi registry``.)
"""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from cli.client.archives import UnsafeArchive, extract_model_archive, pack_adapter_directory
from cli.client.connection import (
    DEFAULT_BASE_URL,
    ApiKeyOption,
    BaseUrlOption,
    JsonOption,
    api_session,
    fail,
)
from cli.client.progress import transfer_progress
from cli.client.tables import echo_deleted, format_timestamp, print_json, print_table, show
from cli.client.uploading import upload_file

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
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Download a fine-tuned model's adapter (with its tokenizer, model card and checksums) into
    a directory peft loads; every file is checked against ``checksums``. Prints the directory."""
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output, prefix=".download-") as scratch:
        archive = Path(scratch) / "model.tar"
        with (
            api_session(base_url, api_key) as api,
            api.stream("GET", f"models/{model}/content", params={"format": "adapter"}) as response,
        ):
            total = int(response.headers.get("content-length") or 0)
            with (
                transfer_progress(f"download {model}", total) as progress,
                archive.open("wb") as out,
            ):
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    progress.advance(len(chunk))
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
