"""``ftapi models list|delete``: the models a key can use, over HTTP.

Base models (``owned_by: system``) come from the deployment's registry; fine-tuned ones belong
to the key's project and can be deleted. (Operators edit the registry with ``ftapi registry``.)
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.client.connection import (
    DEFAULT_BASE_URL,
    ApiKeyOption,
    BaseUrlOption,
    JsonOption,
    api_session,
)
from cli.client.tables import echo_deleted, format_timestamp, print_json, print_table, show

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
