"""``ftapi``: one CLI, a sub-command per process and per operator task."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from service.cli.agent import agent
from service.cli.dev import dev
from service.cli.engine import engine
from service.cli.keys import keys_app
from service.cli.models import models_app
from service.cli.worker import worker
from service.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Metadata database.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.command("dev")(dev)
app.command("engine")(engine)
app.command("worker")(worker)
app.command("agent")(agent)


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
        "service.http.app:create_app",
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
    from service.openapi_doc import render_openapi

    rendered = render_openapi()
    if output is None:
        sys.stdout.write(rendered)
        return
    if check:
        if not output.exists() or output.read_text() != rendered:
            typer.echo(f"{output} is stale: run `ftapi openapi --output {output}`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{output} is up to date")
        return
    output.write_text(rendered)
    typer.echo(f"wrote {output}")
