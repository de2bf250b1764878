"""PostgreSQL restarted under a running api: readiness says so, then the api recovers alone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import APIStatusError, OpenAI

from tests.support.jobs import chat_jsonl
from tests.support.services import PostgresServer, postgres_binaries
from tests.support.skips import skip_loudly
from tests.support.stack import ApiServer, StackConfig

NO_POSTGRES = (
    "PostgreSQL binaries (initdb, pg_ctl) are not installed: the database restart fault test "
    "is SKIPPED. Install Debian's postgresql package to run it."
)


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    binaries = postgres_binaries()
    if binaries is None:
        skip_loudly(NO_POSTGRES)
    server = PostgresServer(binaries)
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


def _readiness(stack: ApiServer) -> httpx.Response:
    return httpx.get(f"{stack.root_url}/readyz", timeout=10)


def _wait_ready(stack: ApiServer, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while _readiness(stack).status_code != 200:
        assert time.monotonic() < deadline, _readiness(stack).text
        time.sleep(0.2)


def test_the_api_reports_a_database_outage_and_recovers_without_a_restart(
    tmp_path: Path, redis_url: str, private_postgres: PostgresServer
) -> None:
    config = StackConfig(data_dir=tmp_path, redis_url=redis_url, database_url=private_postgres.url)
    with ApiServer(config, ctl_worker=False) as stack:
        key = stack.new_key("pg-restart")
        client = OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
        kept = client.files.create(file=("kept.jsonl", chat_jsonl(5)), purpose="fine-tune")
        api_pid = stack.pid

        private_postgres.stop()
        outage = _readiness(stack)
        assert outage.status_code == 503
        assert outage.json()["checks"]["database"] != "ok"
        assert outage.json()["checks"]["redis"] == "ok"
        with pytest.raises(APIStatusError) as refused:
            client.files.list()
        # Authentication itself needs the database: a clear 503, never a 500 or a 401.
        assert refused.value.status_code == 503
        assert refused.value.response.headers.get("retry-after")
        assert "database" in refused.value.response.json()["error"]["message"].lower()

        private_postgres.start()
        _wait_ready(stack)
        assert stack.pid == api_pid  # the same process recovered
        assert [f.id for f in client.files.list()] == [kept.id]
        again = client.files.create(file=("again.jsonl", chat_jsonl(5)), purpose="fine-tune")
        assert {f.id for f in client.files.list()} == {kept.id, again.id}
