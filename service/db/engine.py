"""The async engine and session factory for the metadata store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

# A pooled connection idle this long is pinged before use; busier ones are not.
PING_AFTER_IDLE_S = 10.0
_IDLE_SINCE = "ftapi.idle_since"


def create_engine(
    url: str, *, echo: bool = False, pool_size: int = 10, pool_timeout_s: float = 30.0
) -> AsyncEngine:
    """An engine for SQLite (WAL, busy timeout, foreign keys) or PostgreSQL (pooled; a caller
    waits at most ``pool_timeout_s`` for a connection)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No overflow: under a burst, requests wait for one of ``pool_size`` warm connections
    # rather than each opening (TLS, auth, statement cache) and closing one of their own.
    engine = create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout_s
    )
    _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: AsyncEngine) -> None:
    """``pool_pre_ping``, but only for connections that sat idle for ``PING_AFTER_IDLE_S``.

    A ping costs a read three round trips (BEGIN, ping, ROLLBACK): as much as the read itself.
    A connection used moments ago is very likely alive, and if the server went away meanwhile
    the failed statement invalidates the whole pool, so one request gets a 503, not every one.
    After a quiet spell, when a restart is most likely to have gone unnoticed, the ping runs
    and a dead connection is replaced before any request sees it.
    """

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _idle_from_now(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The documented way for a checkout hook to make the pool reconnect and retry.
            raise DisconnectionError(f"a pooled connection failed its ping: {error}") from error


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout turns lock contention into waits.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class SessionFactory(async_sessionmaker[AsyncSession]):
    """Sessions for writes, connections for reads, both let in fairly (``_FairAdmission``).

    ``factory.begin()`` is an ORM session in a transaction that keeps loaded attributes after
    commit (records are built after commits). ``factory.read()`` is a Core connection for
    reads: statements return plain rows (same attribute names as the mapped classes) with no
    unit of work to set up, and on PostgreSQL each statement runs on its own (autocommit),
    which spares a read the BEGIN and ROLLBACK round trips around it. Together that is about
    40% of a lookup's CPU in the api. SQLite never wraps reads in a transaction, so there
    ``read()`` is a plain connection.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, expire_on_commit=False)
        self._read_engine = (
            engine
            if engine.dialect.name == "sqlite"
            else engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._admission = _FairAdmission.for_pool(engine)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose statements each see the latest committed data."""
        async with self._admission, self._read_engine.connect() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:  # type: ignore[override]
        """A session in a transaction, committed at the end unless an exception leaves it."""
        async with self._admission, super().begin() as session:
            yield session


class _FairAdmission:
    """Lets callers at a pooled engine in the order they came, at most ``pool_size`` at once.

    The pool's own queue lets a newcomer take a connection just handed back while earlier
    callers still wait, and a caller that lost that race waits again at the back: under load
    a few requests waited seconds while most never waited (bench/load.py: p50 22 ms, p99
    1.1 s). An asyncio semaphore is first come, first served, and with no more callers past it
    than the pool has connections, none of them waits in the pool's queue. A caller that
    waits longer than the pool's timeout gets the pool's ``TimeoutError`` (a 503).
    """

    def __init__(self, capacity: int | None, timeout_s: float) -> None:
        self._semaphore = None if capacity is None else asyncio.Semaphore(capacity)
        self._timeout_s = timeout_s

    @classmethod
    def for_pool(cls, engine: AsyncEngine) -> _FairAdmission:
        """Admission sized to the engine's pool; SQLite is not gated."""
        pool = engine.sync_engine.pool
        if engine.dialect.name == "sqlite" or not isinstance(pool, QueuePool):
            return cls(None, 0.0)
        return cls(pool.size(), pool.timeout())

    async def __aenter__(self) -> None:
        if self._semaphore is None:
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._semaphore.acquire()
        except TimeoutError as error:
            raise PoolTimeout(
                f"no database connection came free in {self._timeout_s:g} s"
            ) from error

    async def __aexit__(self, *_: object) -> None:
        if self._semaphore is not None:
            self._semaphore.release()


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """The session factory every store takes."""
    return SessionFactory(engine)
