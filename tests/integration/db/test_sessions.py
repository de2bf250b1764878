"""Read connections, write transactions and the pool's liveness checks on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from service.db import engine as engine_module
from service.db.engine import SessionFactory, create_engine, create_session_factory
from tests.support.services import create_database, drop_database

pytestmark = pytest.mark.usefixtures("postgres")


async def _each_statement_is_its_own_transaction(
    session: AsyncSession | AsyncConnection,
) -> bool:
    """``now()`` is the transaction's start: it moves between statements only in autocommit."""
    first = await session.scalar(text("SELECT now()"))
    await session.execute(text("SELECT pg_sleep(0.01)"))
    return bool(first != await session.scalar(text("SELECT now()")))


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    url = await create_database()
    engine = create_engine(url, pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_database(url)


async def _backend_pid(sessions: SessionFactory) -> int:
    async with sessions.read() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


async def _terminate(engine: AsyncEngine, pid: int) -> None:
    """Kill one server backend from outside the pool, as a server restart would."""
    killer = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        async with killer.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.dispose()


async def test_reads_run_outside_a_transaction_and_writes_inside_one(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    async with sessions.read() as connection:
        assert await _each_statement_is_its_own_transaction(connection)
    async with sessions.begin() as session:
        assert not await _each_statement_is_its_own_transaction(session)
        await session.execute(text("CREATE TABLE kept (n int)"))
        await session.execute(text("INSERT INTO kept VALUES (1)"))

    async def insert_two_the_second_bad() -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO kept VALUES (2)"))
            await session.execute(text("INSERT INTO kept VALUES ('not a number')"))

    with pytest.raises(DBAPIError):
        await insert_two_the_second_bad()
    async with sessions.read() as connection:
        assert (await connection.scalars(text("SELECT n FROM kept"))).all() == [1]  # atomic


async def test_a_connection_idle_long_enough_is_pinged_and_replaced_before_use(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = create_session_factory(engine)
    dead = await _backend_pid(sessions)
    await _terminate(engine, dead)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)

    replacement = await _backend_pid(sessions)  # no error reaches the caller

    assert replacement != dead


async def test_a_busy_connection_is_not_pinged_and_one_failure_renews_the_pool(
    engine: AsyncEngine,
) -> None:
    sessions = create_session_factory(engine)
    dead = await _backend_pid(sessions)
    await _terminate(engine, dead)

    with pytest.raises(DBAPIError) as failure:
        await _backend_pid(sessions)  # used moments ago: no ping, the statement finds it dead
    assert failure.value.connection_invalidated

    assert await _backend_pid(sessions) != dead  # the next request gets a fresh connection


async def test_callers_get_a_connection_in_the_order_they_asked(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)  # one connection
    order: list[str] = []
    newcomer: list[asyncio.Task[None]] = []

    async def read(name: str) -> None:
        async with sessions.read() as connection:
            await connection.execute(text("SELECT 1"))
            order.append(name)
            if name == "first":
                await asyncio.sleep(0.05)  # the others queue meanwhile

    def arrive_at_hand_back(*_: object) -> None:
        # Fires as "first" hands its connection back, before any waiter is woken: the moment
        # a newcomer could take the connection ahead of them (the pool's own queue lets it).
        if order == ["first"] and not newcomer:
            newcomer.append(asyncio.ensure_future(read("newcomer")))

    event.listen(engine.sync_engine.pool, "checkin", arrive_at_hand_back)
    first = asyncio.ensure_future(read("first"))
    await asyncio.sleep(0.01)
    waiting = []
    for name in ("second", "third", "fourth"):
        waiting.append(asyncio.ensure_future(read(name)))
        await asyncio.sleep(0.001)
    await asyncio.gather(first, *waiting)
    await asyncio.gather(*newcomer)

    assert order == ["first", "second", "third", "fourth", "newcomer"]


async def test_a_caller_that_cannot_get_a_connection_in_time_gets_the_pools_timeout() -> None:
    url = await create_database()
    engine = create_engine(url, pool_size=1, pool_timeout_s=0.2)
    sessions = create_session_factory(engine)
    try:
        async with sessions.read():
            with pytest.raises(PoolTimeout):
                async with sessions.begin():
                    pass
        async with sessions.begin() as session:  # free again
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()
        await drop_database(url)
