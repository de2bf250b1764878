"""The blob reaper on a migrated SQLite database and each real blob store (local disk, moto S3):
a deleted model's adapter and checkpoints go once its grace has passed, exactly once, and
nothing else goes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.auth.store import ProjectStore
from service.blobstore import BlobStore, LocalBlobStore, S3BlobStore
from service.blobstore.keys import (
    adapter_object_key,
    adapter_prefix,
    checkpoint_object_key,
    imported_adapter_prefix,
)
from service.clock import SystemClock
from service.db.engine import create_engine, create_session_factory
from service.db.migrate import upgrade_database_async
from service.db.tables import FineTunedModelRow
from service.models.fine_tuned import FineTunedModelRecord, FineTunedModelStore
from service.models.reaper import ExpiredModelStore, ModelBlobReaper
from tests.integration.blobstore.stores_under_test import s3_config_for
from tests.support.moto_server import MotoS3Server

NOW_S = 1_800_000_000
GRACE_S = 3600
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "manifest.json")
CHECKPOINT_FILES = (
    "adapter/adapter_config.json",
    "adapter/adapter_model.safetensors",
    "state.json",
)


@dataclass
class SettableClock:
    now_s: int = NOW_S

    def now_us(self) -> int:
        return self.now_s * 1_000_000


@dataclass
class World:
    """A database with one project, a blob store, and a reaper over both."""

    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    project_id: str
    organization_id: str
    clock: SettableClock

    def reaper(self, grace_s: int = GRACE_S) -> ModelBlobReaper:
        return ModelBlobReaper(
            ExpiredModelStore(self.sessions), self.blobs, self.clock, grace_s=grace_s
        )

    async def publish(self, name: str, *, checkpoint_steps: tuple[int, ...] = (1, 2)) -> str:
        """A model row with its adapter blobs and its job's checkpoint blobs; returns its id."""
        job_id = f"ftjob-{name}"
        model_id = f"ft:org/base:acme:{name}:{job_id}"
        for file_name in ADAPTER_FILES:
            await self._put(adapter_object_key(self.project_id, job_id, 2, file_name))
        for step in checkpoint_steps:
            for file_name in CHECKPOINT_FILES:
                await self._put(checkpoint_object_key(self.project_id, job_id, 1, step, file_name))
        assert await FineTunedModelStore(self.sessions).insert(
            FineTunedModelRecord(
                id=model_id,
                project_id=self.project_id,
                organization_id=self.organization_id,
                job_id=job_id,
                base_model="org/base",
                blob_prefix=adapter_prefix(self.project_id, job_id, 2),
                created_at=NOW_S - 10_000,
            )
        )
        return model_id

    async def delete(self, model_id: str, *, at_s: int) -> None:
        store = FineTunedModelStore(self.sessions)
        assert await store.mark_deleted(self.project_id, model_id, deleted_at=at_s)

    async def blob_count(self, model_id: str) -> tuple[int, int]:
        """How many of the model's adapter files and checkpoint files exist."""
        job_id = model_id.rsplit(":", 1)[1]
        adapter = [adapter_object_key(self.project_id, job_id, 2, name) for name in ADAPTER_FILES]
        checkpoints = [
            checkpoint_object_key(self.project_id, job_id, 1, step, name)
            for step in (1, 2)
            for name in CHECKPOINT_FILES
        ]
        return await self._present(adapter), await self._present(checkpoints)

    async def blobs_deleted_at(self, model_id: str) -> int | None:
        async with self.sessions() as session:
            return await session.scalar(
                select(FineTunedModelRow.blobs_deleted_at).where(FineTunedModelRow.id == model_id)
            )

    async def _present(self, keys: list[str]) -> int:
        return sum([await self.blobs.size_of(key) is not None for key in keys])

    async def _put(self, key: str) -> None:
        async def body() -> AsyncIterator[bytes]:
            yield b"x" * 64

        await self.blobs.put_stream(key, body())


@pytest.fixture(params=["local", "s3"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'reaper.db'}"
    await upgrade_database_async(url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    projects = ProjectStore(sessions, SystemClock())
    organization_id = await projects.ensure_organization("acme")
    project_id = await projects.ensure_project(organization_id, "p")
    bucket = None
    if request.param == "local":
        (tmp_path / "blobs").mkdir()
        blobs: BlobStore = LocalBlobStore(tmp_path / "blobs")
    else:
        server: MotoS3Server = request.getfixturevalue("moto_s3")
        bucket = server.create_bucket()
        blobs = S3BlobStore(s3_config_for(server, bucket))
    try:
        yield World(sessions, blobs, project_id, organization_id, SettableClock())
    finally:
        await blobs.close()
        await engine.dispose()
        if bucket is not None:
            server.delete_bucket(bucket)


async def test_blobs_go_after_the_grace_exactly_once_and_nothing_else_goes(world: World) -> None:
    expired = await world.publish("expired")
    recent = await world.publish("recent")
    live = await world.publish("live")
    await world.delete(expired, at_s=NOW_S - GRACE_S - 1)
    await world.delete(recent, at_s=NOW_S - GRACE_S + 60)

    assert await world.reaper().run_once() == 1

    assert await world.blob_count(expired) == (0, 0)
    assert await world.blobs_deleted_at(expired) == NOW_S
    assert await world.blob_count(recent) == (3, 6)  # still within its grace
    assert await world.blobs_deleted_at(recent) is None
    assert await world.blob_count(live) == (3, 6)  # a live model and its job's checkpoints

    assert await world.reaper().run_once() == 0  # done once, not again

    world.clock.now_s += 60
    assert await world.reaper().run_once() == 1
    assert await world.blob_count(recent) == (0, 0)
    assert await world.blobs_deleted_at(expired) == NOW_S  # the first stamp stays
    assert await world.blob_count(live) == (3, 6)


async def test_no_grace_reaps_a_model_deleted_this_second(world: World) -> None:
    model = await world.publish("now")
    await world.delete(model, at_s=NOW_S)

    assert await world.reaper(grace_s=0).run_once() == 1

    assert await world.blob_count(model) == (0, 0)


async def test_blobs_already_gone_are_not_an_error(world: World) -> None:
    model = await world.publish("bare", checkpoint_steps=())
    job_id = model.rsplit(":", 1)[1]
    await world.blobs.delete_prefix(adapter_prefix(world.project_id, job_id, 2))
    await world.delete(model, at_s=NOW_S - GRACE_S)

    assert await world.reaper().run_once() == 1

    assert await world.blobs_deleted_at(model) == NOW_S


async def test_concurrent_passes_reap_each_model_once(world: World) -> None:
    models = [await world.publish(f"m{i}") for i in range(3)]
    for model in models:
        await world.delete(model, at_s=NOW_S - GRACE_S)

    counts = await asyncio.gather(world.reaper().run_once(), world.reaper().run_once())

    assert sum(counts) == 3
    for model in models:
        assert await world.blob_count(model) == (0, 0)


async def test_a_model_published_before_attempt_scoped_keys_is_reaped_whole(world: World) -> None:
    """Rows older than attempt-scoped keys point at ``models/{job_id}/``, and their job's
    checkpoints sit in the job-wide ``checkpoints/``: both go."""
    job_id = "ftjob-legacy"
    model_id = f"ft:org/base:acme:legacy:{job_id}"
    legacy = [
        f"projects/{world.project_id}/models/{job_id}/adapter_model.safetensors",
        f"projects/{world.project_id}/jobs/{job_id}/checkpoints/step-3/state.json",
    ]
    for key in legacy:
        await world._put(key)
    assert await FineTunedModelStore(world.sessions).insert(
        FineTunedModelRecord(
            id=model_id,
            project_id=world.project_id,
            organization_id=world.organization_id,
            job_id=job_id,
            base_model="org/base",
            blob_prefix=f"projects/{world.project_id}/models/{job_id}/",
            created_at=NOW_S - 10_000,
        )
    )
    await world.delete(model_id, at_s=NOW_S - GRACE_S)

    assert await world.reaper().run_once() == 1

    assert await world._present(legacy) == 0


async def test_an_imported_model_without_a_job_is_reaped_by_its_prefix(world: World) -> None:
    """An imported model (``job_id`` NULL) keeps everything under its import prefix."""
    prefix = imported_adapter_prefix(world.project_id, "ftimport-abc")
    for file_name in ADAPTER_FILES:
        await world._put(prefix + file_name)
    live = await world.publish("live")
    model_id = "ft:org/base:acme:imported:abc"
    assert await FineTunedModelStore(world.sessions).insert(
        FineTunedModelRecord(
            id=model_id,
            project_id=world.project_id,
            organization_id=world.organization_id,
            job_id=None,
            base_model="org/base",
            blob_prefix=prefix,
            created_at=NOW_S - 10_000,
        )
    )
    await world.delete(model_id, at_s=NOW_S - GRACE_S)

    assert await world.reaper().run_once() == 1

    assert await world._present([prefix + name for name in ADAPTER_FILES]) == 0
    assert await world.blobs_deleted_at(model_id) == NOW_S
    assert await world.blob_count(live) == (3, 6)
