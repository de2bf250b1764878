"""Dataset reports stored by concurrent validations of one file (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.datasets.reports.dataset_report import DatasetReport
from service.datasets.reports.store import DatasetReportStore
from service.db.tables import DatasetReportRow
from service.files.records import FilePurpose, FileRecord, FileStatus
from service.files.store import FileStore
from tests.support.attempts import AttemptWorld, attempt_world


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AttemptWorld]:
    if request.param == "postgres":
        request.getfixturevalue("postgres")
    async with attempt_world(request.param, tmp_path) as built:
        yield built


async def _insert_file(world: AttemptWorld) -> None:
    await FileStore(world.sessions).insert(
        FileRecord(
            id="file-shared",
            project_id=world.project_id,
            purpose=FilePurpose.FINE_TUNE,
            filename="train.jsonl",
            bytes=1,
            sha256="0" * 64,
            status=FileStatus.PROCESSED,
            status_details=None,
            created_at=1,
            created_us=1_000_000,
            expires_at=None,
        )
    )


REPORT = DatasetReport(model="tiny", format="chat", max_seq_length=64, n_examples=10)


async def test_a_writer_that_loses_the_race_stores_nothing_and_does_not_fail(
    world: AttemptWorld,
) -> None:
    await _insert_file(world)
    store = DatasetReportStore(world.sessions)
    # Writer A has inserted the row but not committed when writer B looks for it: B's merge
    # finds nothing, inserts, and meets A's row once A commits.
    async with world.sessions.begin() as first:
        first.add(
            DatasetReportRow(
                file_id="file-shared",
                model_id="tiny",
                report_json=json.dumps(REPORT.to_json()),
                created_at=1,
            )
        )
        await first.flush()
        second = asyncio.create_task(store.put("file-shared", REPORT, created_at=2))
        await asyncio.sleep(0.3)
    await second

    assert await store.get("file-shared", "tiny") == REPORT
