"""The api's key authenticator on a real (migrated SQLite) database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.auth.api_keys import issue_key
from service.auth.authenticator import KeyAuthenticator
from service.auth.caller import Caller
from service.auth.store import ProjectStore
from service.clock import SystemClock
from service.db.engine import create_engine, create_session_factory
from service.db.migrate import upgrade_database_async


@pytest.fixture
async def projects(tmp_path: Path) -> AsyncIterator[ProjectStore]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
    await upgrade_database_async(url)
    engine = create_engine(url)
    try:
        yield ProjectStore(create_session_factory(engine), SystemClock())
    finally:
        await engine.dispose()


def _count_lookups(projects: ProjectStore) -> list[int]:
    """Counts the store's key lookups (wraps its own method; the database still answers)."""
    calls = [0]
    look_up = projects.authenticate_hash

    async def counted(key_hash: str, last_used_resolution_s: int) -> Caller | None:
        calls[0] += 1
        return await look_up(key_hash, last_used_resolution_s)

    projects.authenticate_hash = counted  # type: ignore[method-assign]
    return calls


async def test_concurrent_requests_with_a_key_not_remembered_share_one_lookup(
    projects: ProjectStore,
) -> None:
    project_id = await projects.ensure_project(await projects.ensure_organization("acme"), "p")
    key = issue_key("sk-proj-")
    await projects.add_key(project_id, key)
    authenticator = KeyAuthenticator(projects, ttl_s=60, last_used_resolution_s=60)
    lookups = _count_lookups(projects)

    callers = await asyncio.gather(*(authenticator.authenticate(key.plaintext) for _ in range(20)))

    assert {caller.project_id if caller else None for caller in callers} == {project_id}
    assert lookups[0] == 1
    assert await authenticator.authenticate(key.plaintext) == callers[0]
    assert lookups[0] == 1  # remembered


async def test_an_unknown_key_is_looked_up_every_time_and_a_gone_waiter_harms_no_other(
    projects: ProjectStore,
) -> None:
    authenticator = KeyAuthenticator(projects, ttl_s=60, last_used_resolution_s=60)
    lookups = _count_lookups(projects)
    unknown = issue_key("sk-proj-").plaintext

    gone = asyncio.ensure_future(authenticator.authenticate(unknown))
    stays = asyncio.ensure_future(authenticator.authenticate(unknown))
    await asyncio.sleep(0)
    gone.cancel()

    assert await stays is None
    assert await authenticator.authenticate(unknown) is None
    assert lookups[0] == 2  # misses are never remembered
