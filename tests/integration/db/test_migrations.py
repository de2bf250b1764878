"""Migrations apply from an empty database on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from service.db.engine import create_engine
from service.db.migrate import upgrade_database
from service.db.tables import Base
from tests.support.services import create_database, drop_database

EXPECTED_TABLES = {
    "organizations",
    "projects",
    "api_keys",
    "files",
    "uploads",
    "upload_parts",
    "dataset_reports",
    "jobs",
    "job_metadata",
    "job_events",
    "job_checkpoints",
    "fine_tuned_models",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_delivery_attempts",
}


def _schema_differences(url: str) -> tuple[set[str], list[object]]:
    def inspect_sync(connection: Connection) -> tuple[set[str], list[object]]:
        tables = set(inspect(connection).get_table_names())
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return tables, list(compare_metadata(context, Base.metadata))

    async def run() -> tuple[set[str], list[object]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(inspect_sync)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_sqlite_migrates_from_empty_to_the_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"

    upgrade_database(url)
    upgrade_database(url)  # idempotent: a second run is a no-op

    tables, differences = _schema_differences(url)
    assert tables >= EXPECTED_TABLES
    assert differences == []


@pytest.mark.usefixtures("postgres")
def test_postgres_migrates_from_empty_to_the_models() -> None:
    url = asyncio.run(create_database())
    try:
        upgrade_database(url)
        tables, differences = _schema_differences(url)
        assert tables >= EXPECTED_TABLES
        assert differences == []
    finally:
        asyncio.run(drop_database(url))
