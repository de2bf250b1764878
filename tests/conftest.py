"""Session-wide real services: Redis (found on 6379 or started), PostgreSQL (found), moto S3."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.moto_server import MotoS3Server
from tests.support.services import RedisServer, port_open, postgres_available
from tests.support.tiny_model import TinyModels

POSTGRES_MISSING = (
    "PostgreSQL is not reachable on 127.0.0.1:5432: PostgreSQL-backed tests are SKIPPED. "
    "Start it (Debian: pg_ctlcluster <version> main start) to run them."
)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A reachable Redis: the machine's on 6379, else a private redis-server for the session."""
    if port_open("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> bool:
    """Whether PostgreSQL tests can run; skips loudly when they cannot."""
    if not postgres_available():
        warnings.warn(POSTGRES_MISSING, pytest.PytestWarning, stacklevel=1)
        pytest.skip(POSTGRES_MISSING)
    return True


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3Server]:
    """moto's S3 over HTTP on 127.0.0.1 for the whole session (tests use their own buckets)."""
    server = MotoS3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_async(coro: object) -> object:
    """Run a coroutine from sync fixture code."""
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """Tiny random Llama models, one per chat template, built on first use (no download)."""
    return TinyModels(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data dir for an embedded-mode stack."""
    return tmp_path / "ftapi-data"
