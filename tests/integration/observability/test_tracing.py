"""Optional OpenTelemetry tracing: with an OTLP endpoint configured, the api exports a span per
request and the ctl worker a span per task to a (real, minimal) collector; without one, no
tracer is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk", reason="the `otel` extra is not installed")

from litestar.plugins.opentelemetry import OpenTelemetryPlugin

from service.api.app import create_app
from service.ctl_worker.tasks import ctl_worker_options
from service.observability.tracing import (
    STANDARD_ENDPOINT_VARIABLES,
    traced_worker_options,
)
from service.settings import Settings
from tests.integration.observability.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.services import RedisServer
from tests.support.stack import REPO_ROOT, ApiServer, StackConfig


def status_of(span: ReceivedSpan) -> object:
    """The response status under the stable semantic conventions' name or the older one."""
    return span.attributes.get("http.response.status_code", span.attributes.get("http.status_code"))


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def traced_api(
    collector: OtlpReceiver, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """An api and a ctl worker exporting to ``collector`` (batches sent every 200 ms)."""
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("traced"),
        redis_url=redis_server.new_database_url(),
        extra_env={"FTAPI_OTEL__ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "200"},
    )
    with ApiServer(config) as api:
        yield api


def test_a_request_and_the_task_it_queues_are_traced_with_their_ids(
    traced_api: ApiServer, collector: OtlpReceiver
) -> None:
    key = traced_api.new_key("traced")
    example = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    }
    lines = (json.dumps(example) + "\n").encode() * 10
    response = httpx.post(
        f"{traced_api.base_url}/files",
        headers={"Authorization": f"Bearer {key}"},
        data={"purpose": "fine-tune"},
        files={"file": ("train.jsonl", lines)},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    file_id = response.json()["id"]

    request_span = collector.wait_for("POST /v1/files")
    assert request_span.service_name == "ftapi-api"
    assert request_span.attributes["http.route"] == "/v1/files"
    assert status_of(request_span) == 200
    assert request_span.attributes["ftapi.request_id"] == response.headers["x-request-id"]
    assert "sk-ft-" not in str(request_span.attributes)  # no bearer tokens in spans

    task_span = collector.wait_for("ftapi:ctl validate_file")
    assert task_span.service_name == "ftapi-ctl"
    assert task_span.attributes["ftapi.file_id"] == file_id
    assert task_span.attributes["arq.job_id"] == f"validate_file:{file_id}"
    assert task_span.status_code != 2  # not an error


def test_route_templates_name_spans_not_paths(
    traced_api: ApiServer, collector: OtlpReceiver
) -> None:
    key = traced_api.new_key("traced")
    missing = httpx.get(
        f"{traced_api.base_url}/files/file-doesnotexist",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert missing.status_code == 404
    span = collector.wait_for("GET /v1/files/{file_id}")
    assert status_of(span) == 404
    assert span.attributes["http.route"] == "/v1/files/{file_id}"


def test_without_an_endpoint_no_tracer_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in STANDARD_ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    app = create_app(settings)
    assert not any(isinstance(plugin, OpenTelemetryPlugin) for plugin in app.plugins)
    options = ctl_worker_options(settings)
    assert traced_worker_options(options, settings, "ctl") is options


def test_without_an_endpoint_the_sdk_is_never_imported(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from service.api.app import create_app\n"
        "from service.observability.tracing import traced_worker_options\n"
        "from service.settings import Settings\n"
        "create_app(Settings())\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FTAPI_", "OTEL_"))}
    env["FTAPI_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"
