"""Session-wide real services: Redis (found on 6379 or started), PostgreSQL (found), moto S3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.jobs import TINY_MODEL_ID
from tests.support.moto_server import MotoS3Server
from tests.support.services import RedisServer, postgres_available
from tests.support.skips import LOUD_SKIP_REASONS, skip_loudly
from tests.support.stack import write_registry
from tests.support.tiny_model import TinyModels

POSTGRES_MISSING = (
    "PostgreSQL is not reachable on 127.0.0.1:5432: PostgreSQL-backed tests are SKIPPED. "
    "Start it (Debian: pg_ctlcluster <version> main start) to run them."
)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server for the session: stacks never share queues, and fault tests may
    restart it without touching anything else on the machine."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis database of this test's own."""
    return redis_server.new_database_url()


@pytest.fixture(scope="session")
def postgres() -> bool:
    """Whether PostgreSQL tests can run; skips loudly when they cannot."""
    if not postgres_available():
        skip_loudly(POSTGRES_MISSING)
    return True


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name every backing service whose tests were skipped, in red, after the results."""
    if LOUD_SKIP_REASONS:
        terminalreporter.section("tests SKIPPED for a missing service", sep="!", red=True)
        for reason in LOUD_SKIP_REASONS:
            terminalreporter.line(reason, red=True, bold=True)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3Server]:
    """moto's S3 over HTTP on 127.0.0.1 for the whole session (tests use their own buckets)."""
    server = MotoS3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """Tiny random Llama models, one per chat template, built on first use (no download)."""
    return TinyModels(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def job_registry(tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base-model registry offering the tiny ChatML model as ``TINY_MODEL_ID``."""
    path = tmp_path_factory.mktemp("registry") / "models.toml"
    write_registry(path, {TINY_MODEL_ID: tiny_models.model_dir("chatml")})
    return path
