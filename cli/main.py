"""``ftapi``: one CLI, a sub-command per process and per operator task."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.agent import agent
from cli.client.chat import chat
from cli.client.evals import evals_app
from cli.client.files import files_app
from cli.client.jobs import jobs_app
from cli.client.models import models_app
from cli.config_doc import config_doc
from cli.dev import dev
from cli.engine import engine
from cli.generated_files import write_or_check
from cli.keys import keys_app
from cli.models import add as registry_add
from cli.models import chat_template as registry_chat_template
from cli.models import registry_app
from cli.worker import worker
from service.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Metadata database.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(registry_app, name="registry")
# User commands: they talk HTTP to --base-url (cli.client).
app.add_typer(files_app, name="files")
app.add_typer(jobs_app, name="jobs")
app.add_typer(evals_app, name="evals")
app.add_typer(models_app, name="models")
app.command("chat")(chat)
# The registry's operator commands also answer under `models`, where scripts and images call them.
models_app.command("add", help="Add a base model to the registry file (= `ftapi registry add`).")(
    registry_add
)
models_app.command(
    "chat-template",
    help="The registry's chat template of a model (= `ftapi registry chat-template`).",
)(registry_chat_template)
app.command("dev")(dev)
app.command("engine")(engine)
app.command("worker")(worker)
app.command("agent")(agent)
app.command("config-doc")(config_doc)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply Alembic migrations to the configured database."""
    from service.db.migrate import upgrade_database

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@app.command("api")
def api(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the HTTP api with uvicorn."""
    import uvicorn

    Settings().data_dir.mkdir(parents=True, exist_ok=True)
    uvicorn.run(
        "service.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        http="httptools",
        loop="uvloop",
        timeout_graceful_shutdown=10,
    )


@app.command("openapi")
def openapi(
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    check: Annotated[bool, typer.Option(help="Fail if OUTPUT differs from the app.")] = False,
) -> None:
    """Print (or write, or check) the OpenAPI document generated from the app."""
    from service.api.openapi_doc import render_openapi

    rendered = render_openapi()
    if output is None:
        sys.stdout.write(rendered)
        return
    write_or_check(output, rendered, check=check, regenerate=f"ftapi openapi --output {output}")
