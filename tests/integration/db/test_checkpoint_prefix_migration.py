"""Revision 0007 on a database with checkpoints in it (SQLite and PostgreSQL): rows written
before attempt-scoped keys get the job-wide prefix their blobs sit at, and read back as such."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from service.db.engine import create_engine
from service.db.migrate import upgrade_database
from tests.support.services import create_database, drop_database

ROWS = (
    "INSERT INTO organizations (id, slug, created_at) VALUES ('org_1', 'acme', 0)",
    "INSERT INTO projects (id, organization_id, name, created_at) VALUES ('proj_1', 'org_1', "
    "'p', 0)",
    "INSERT INTO jobs (id, project_id, organization_id, model, training_file, seed, method_json, "
    "hyperparameters_json, status, attempt, result_files_json, created_at, created_us) VALUES "
    "('ftjob-old', 'proj_1', 'org_1', 'm', 'file-x', 1, '{}', '{}', 'running', 1, '[]', 0, 0)",
    "INSERT INTO job_checkpoints (id, job_id, project_id, created_at, created_us, step_number, "
    "metrics_json, fine_tuned_model_checkpoint) VALUES ('ftckpt_1', 'ftjob-old', 'proj_1', 0, 0, "
    "120, '{}', 'ft:m:acme::ftjob-old:ckpt-step-120')",
)


def _migrate_with_a_checkpoint(url: str) -> list[str]:
    upgrade_database(url, "0006")

    async def seed() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                for statement in ROWS:
                    await connection.execute(text(statement))
        finally:
            await engine.dispose()

    async def prefixes() -> list[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(text("SELECT blob_prefix FROM job_checkpoints"))
                return [prefix for (prefix,) in rows]
        finally:
            await engine.dispose()

    asyncio.run(seed())
    upgrade_database(url)
    return asyncio.run(prefixes())


def test_sqlite_gives_old_checkpoints_their_job_wide_prefix(tmp_path: Path) -> None:
    prefixes = _migrate_with_a_checkpoint(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")

    assert prefixes == ["projects/proj_1/jobs/ftjob-old/checkpoints/step-120/"]


@pytest.mark.usefixtures("postgres")
def test_postgres_gives_old_checkpoints_their_job_wide_prefix() -> None:
    url = asyncio.run(create_database())
    try:
        prefixes = _migrate_with_a_checkpoint(url)
    finally:
        asyncio.run(drop_database(url))

    assert prefixes == ["projects/proj_1/jobs/ftjob-old/checkpoints/step-120/"]
