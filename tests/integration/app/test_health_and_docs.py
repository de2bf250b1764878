"""Probes, docs and the committed OpenAPI document, against a real uvicorn server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.api.openapi_doc import render_openapi
from tests.support.services import RedisServer, free_port
from tests.support.stack import ApiServer, StackConfig

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[ApiServer]:
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("health"), redis_url=redis_server.new_database_url()
    )
    with ApiServer(config) as server:
        yield server


def test_healthz_and_readyz_answer_ok(api: ApiServer) -> None:
    health = httpx.get(f"{api.root_url}/healthz")
    ready = httpx.get(f"{api.root_url}/readyz")

    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "blob_store": "ok"}
    assert health.headers["x-request-id"].startswith("req_")


def test_a_sane_incoming_request_id_is_echoed(api: ApiServer) -> None:
    response = httpx.get(f"{api.root_url}/healthz", headers={"x-request-id": "trace-12345678"})
    assert response.headers["x-request-id"] == "trace-12345678"


def test_interactive_docs_are_served(api: ApiServer) -> None:
    page = httpx.get(f"{api.root_url}/docs")
    schema = httpx.get(f"{api.root_url}/docs/openapi.json")

    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "/v1/files" in schema.json()["paths"]


def test_readyz_names_redis_when_it_is_down(tmp_path: Path) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    config = StackConfig(data_dir=tmp_path, redis_url=dead_redis)
    server = ApiServer(config)
    server.start_without_waiting()
    try:
        server.wait_until_serving()
        response = httpx.get(f"{server.root_url}/readyz", timeout=10)
    finally:
        server.stop()

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"].startswith("error")
    assert checks["database"] == "ok"
    assert checks["blob_store"] == "ok"


def test_committed_openapi_matches_the_app() -> None:
    committed = (REPO_ROOT / "openapi" / "openapi.json").read_text()
    assert committed == render_openapi(), "run `ftapi openapi --output openapi/openapi.json`"
