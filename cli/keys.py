"""``ftapi keys``: issue, list and revoke API keys (operators only; keys are shown once)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from service.settings import Settings

if TYPE_CHECKING:  # SQLAlchemy and Alembic load when a command runs, not with every ftapi command
    from service.auth.store import ProjectStore

keys_app = typer.Typer(no_args_is_help=True, help="API keys.")

ProjectOption = Annotated[str, typer.Option("--project", help="Project name.")]


@asynccontextmanager
async def project_store(settings: Settings) -> AsyncIterator[ProjectStore]:
    """A ``ProjectStore`` on the configured database (migrated first in development)."""
    from service.auth.store import ProjectStore
    from service.clock import SystemClock
    from service.db.engine import create_engine, create_session_factory
    from service.db.migrate import upgrade_database_async

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.database.migrate_on_start:
        await upgrade_database_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        yield ProjectStore(create_session_factory(engine), SystemClock())
    finally:
        await engine.dispose()


async def create_key(settings: Settings, project: str) -> str:
    """Issue a key for ``project`` (created if new) and return its plaintext."""
    from service.auth.api_keys import issue_key

    async with project_store(settings) as store:
        organization_id = await store.ensure_organization(settings.organization_slug)
        project_id = await store.ensure_project(organization_id, project)
        issued = issue_key(settings.auth.key_prefix)
        await store.add_key(project_id, issued)
        return issued.plaintext


@keys_app.command("create")
def create(project: ProjectOption = "default") -> None:
    """Issue a new key for a project and print it once."""
    plaintext = asyncio.run(create_key(Settings(), project))
    typer.echo(plaintext)
    typer.echo("Store it now: ftapi keeps only its hash.", err=True)


@keys_app.command("list")
def list_keys(project: ProjectOption = "default") -> None:
    """List a project's keys (display prefix, id, times)."""

    async def run() -> None:
        settings = Settings()
        async with project_store(settings) as store:
            organization_id = await store.ensure_organization(settings.organization_slug)
            project_id = await store.ensure_project(organization_id, project)
            for key in await store.list_keys(project_id):
                state = "revoked" if key.revoked_at else "active"
                typer.echo(
                    f"{key.id}\t{key.display_prefix}…\t{state}\tcreated={key.created_at}"
                    f"\tlast_used={key.last_used_at or '-'}"
                )

    asyncio.run(run())


@keys_app.command("revoke")
def revoke(key: Annotated[str, typer.Argument(help="Key id or display prefix.")]) -> None:
    """Revoke a key; requests with it get 401 at once."""

    async def run() -> None:
        async with project_store(Settings()) as store:
            record = await store.revoke_key(key)
        if record is None:
            typer.echo(f"no key {key}", err=True)
            raise typer.Exit(1)
        typer.echo(f"revoked {record.id} ({record.display_prefix}…)")

    asyncio.run(run())
