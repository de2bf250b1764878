"""The async engine and session factory for the metadata store."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# A pooled connection idle this long is pinged before use; busier ones are not.
PING_AFTER_IDLE_S = 10.0
_IDLE_SINCE = "ftapi.idle_since"


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    """An engine for SQLite (WAL, busy timeout, foreign keys) or PostgreSQL (pooled)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No overflow: under a burst, requests wait for one of ``pool_size`` warm connections
    # rather than each opening (TLS, auth, statement cache) and closing one of their own.
    engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=0)
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
    """Sessions for writes, connections for reads.

    ``factory()`` and ``factory.begin()`` are ORM sessions that keep loaded attributes after
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

    def read(self) -> AsyncConnection:
        """A connection (``async with``) whose statements each see the latest committed data."""
        return self._read_engine.connect()


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """The session factory every store takes."""
    return SessionFactory(engine)
