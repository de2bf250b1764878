"""The fine-tuned model store and ``ModelService`` on a real (migrated SQLite) database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.auth.caller import Caller
from service.auth.store import ProjectStore
from service.clock import SystemClock
from service.db.engine import create_engine, create_session_factory
from service.db.migrate import upgrade_database_async
from service.errors import InvalidRequest, NotFound
from service.models.access import ModelAccess
from service.models.fine_tuned import FineTunedModelRecord, FineTunedModelStore
from service.models.registry import BaseModelSpec, ModelRegistry
from service.models.service import SYSTEM_OWNER, ModelInfo, ModelService

BASE_ID = "org/base"
NOW_S = 1_800_000_000


@dataclass
class SettableClock:
    """A clock the test moves by hand."""

    now_s: int = NOW_S

    def now_us(self) -> int:
        return self.now_s * 1_000_000


@dataclass(frozen=True)
class Projects:
    """Two projects of one organization, as callers."""

    a: Caller
    b: Caller


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a freshly migrated SQLite database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'models.db'}"
    await upgrade_database_async(url)
    engine = create_engine(url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def projects(sessions: async_sessionmaker[AsyncSession]) -> Projects:
    """Projects ``a`` and ``b`` of organization ``acme``."""
    store = ProjectStore(sessions, SystemClock())
    organization_id = await store.ensure_organization("acme")

    async def caller(name: str) -> Caller:
        project_id = await store.ensure_project(organization_id, name)
        return Caller(project_id, organization_id, "acme", api_key_id=f"key-{name}")

    return Projects(a=await caller("a"), b=await caller("b"))


@pytest.fixture
def store(sessions: async_sessionmaker[AsyncSession]) -> FineTunedModelStore:
    return FineTunedModelStore(sessions)


def model(caller: Caller, name: str, created_at: int = NOW_S - 100) -> FineTunedModelRecord:
    return FineTunedModelRecord(
        id=f"ft:{BASE_ID}:acme:{name}:0000abcd",
        project_id=caller.project_id,
        organization_id=caller.organization_id,
        job_id=f"ftjob-{name}",
        base_model=BASE_ID,
        blob_prefix=f"models/{name}",
        created_at=created_at,
    )


async def test_insert_then_get_round_trips_and_a_repeat_is_refused(
    store: FineTunedModelStore, projects: Projects
) -> None:
    record = model(projects.a, "one")

    assert await store.insert(record)
    assert not await store.insert(replace(record, blob_prefix="elsewhere"))  # retried publish

    assert await store.get(projects.a.project_id, record.id) == record


async def test_reads_are_scoped_to_the_project(
    store: FineTunedModelStore, projects: Projects
) -> None:
    record = model(projects.a, "one")
    await store.insert(record)

    assert await store.get(projects.b.project_id, record.id) is None
    assert await store.list_live(projects.b.project_id) == []
    assert not await store.mark_deleted(projects.b.project_id, record.id, deleted_at=NOW_S)
    assert await store.get(projects.a.project_id, record.id) == record


async def test_list_live_is_oldest_first_without_deleted(
    store: FineTunedModelStore, projects: Projects
) -> None:
    newer = model(projects.a, "newer", created_at=NOW_S - 10)
    older = model(projects.a, "older", created_at=NOW_S - 20)
    gone = model(projects.a, "gone", created_at=NOW_S - 30)
    for record in (newer, older, gone):
        await store.insert(record)

    assert await store.mark_deleted(projects.a.project_id, gone.id, deleted_at=NOW_S)

    assert await store.list_live(projects.a.project_id) == [older, newer]
    assert await store.get(projects.a.project_id, gone.id) is None


async def test_mark_deleted_happens_once(store: FineTunedModelStore, projects: Projects) -> None:
    record = model(projects.a, "one")
    await store.insert(record)

    assert await store.mark_deleted(projects.a.project_id, record.id, deleted_at=NOW_S)
    assert not await store.mark_deleted(projects.a.project_id, record.id, deleted_at=NOW_S + 1)

    [cleanup] = await store.deleted_before(NOW_S + 10, limit=10)
    assert cleanup == replace(record, deleted_at=NOW_S)


async def test_cleanup_sees_models_deleted_before_the_cutoff_then_purges_them(
    store: FineTunedModelStore, projects: Projects
) -> None:
    early, late, live = (model(projects.a, n) for n in ("early", "late", "live"))
    for record in (early, late, live):
        await store.insert(record)
    await store.mark_deleted(projects.a.project_id, early.id, deleted_at=NOW_S - 50)
    await store.mark_deleted(projects.a.project_id, late.id, deleted_at=NOW_S)

    assert [r.id for r in await store.deleted_before(NOW_S - 50, limit=10)] == [early.id]
    assert [r.id for r in await store.deleted_before(NOW_S, limit=10)] == [early.id, late.id]
    assert [r.id for r in await store.deleted_before(NOW_S, limit=1)] == [early.id]

    assert not await store.purge(live.id)  # live rows are never purged
    assert await store.purge(early.id)
    assert not await store.purge(early.id)
    assert [r.id for r in await store.deleted_before(NOW_S, limit=10)] == [late.id]
    assert await store.list_live(projects.a.project_id) == [live]


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry((BaseModelSpec(id=BASE_ID, path=tmp_path, created=1_600_000_000),))


async def test_service_lists_base_models_then_the_callers_own(
    sessions: async_sessionmaker[AsyncSession],
    store: FineTunedModelStore,
    projects: Projects,
    registry: ModelRegistry,
) -> None:
    service = ModelService(registry, store, ModelAccess(registry, sessions), SettableClock())
    mine, theirs = model(projects.a, "mine"), model(projects.b, "theirs")
    await store.insert(mine)
    await store.insert(theirs)

    assert await service.list_models(projects.a) == [
        ModelInfo(BASE_ID, 1_600_000_000, SYSTEM_OWNER, BASE_ID),
        ModelInfo(mine.id, mine.created_at, "acme", BASE_ID),
    ]
    found = await service.retrieve(projects.a, mine.id)
    assert found.is_fine_tuned
    assert not (await service.retrieve(projects.b, BASE_ID)).is_fine_tuned
    with pytest.raises(NotFound) as raised:
        await service.retrieve(projects.a, theirs.id)
    assert (raised.value.code, raised.value.param) == ("model_not_found", "model")


async def test_service_deletes_own_fine_tuned_models_only(
    sessions: async_sessionmaker[AsyncSession],
    store: FineTunedModelStore,
    projects: Projects,
    registry: ModelRegistry,
) -> None:
    clock = SettableClock()
    service = ModelService(registry, store, ModelAccess(registry, sessions), clock)
    record = model(projects.a, "mine")
    await store.insert(record)

    with pytest.raises(InvalidRequest) as base:
        await service.delete(projects.a, BASE_ID)
    with pytest.raises(NotFound):
        await service.delete(projects.b, record.id)
    clock.now_s += 5
    await service.delete(projects.a, record.id)

    assert base.value.code == "model_not_deletable"
    assert [r.deleted_at for r in await store.deleted_before(NOW_S + 5, limit=10)] == [NOW_S + 5]
    with pytest.raises(NotFound):
        await service.retrieve(projects.a, record.id)
