"""Tenant isolation, generated from the spec: every route that takes an id, tried by a stranger.

Project A owns one object of every kind (a file, a pending upload with a part, a finished job
with a checkpoint and its fine-tuned model, a queued job, a webhook endpoint, an eval with a
completed run and its output items). Project B (same organization) calls every operation of
``openapi/openapi.json`` that has a path parameter with A's ids: each must answer 404 in
OpenAI's envelope, exactly like a missing object. Every list B can call must not show any of
A's ids, with A's ids as cursors too. A's objects are unchanged.

The routes come from the committed spec, so a new route is tried as soon as it exists; a path
parameter, required query parameter or body nobody mapped below fails the test until it is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http_checks import assert_openai_error, raw_client
from tests.support.jobs import TINY_MODEL_ID, chat_jsonl, stack_config
from tests.support.services import RedisServer
from tests.support.stack import ApiServer

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
PUBLIC_WEBHOOK_URL = "https://93.184.216.34/hooks"  # a literal public address: no DNS needed
EVAL_SOURCE = {
    "type": "jsonl",
    "source": {
        "type": "file_content",
        "content": [{"item": {"answer": "a"}, "sample": {"output_text": "a"}}],
    },
}
EVAL_BODY = {
    "name": "isolation",
    "data_source_config": {
        "type": "custom",
        "item_schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
        "include_sample_schema": True,
    },
    "testing_criteria": [
        {
            "type": "string_check",
            "name": "exact",
            "input": "{{sample.output_text}}",
            "reference": "{{item.answer}}",
            "operation": "eq",
        }
    ],
}


@dataclass(frozen=True)
class OwnedObjects:
    """Project A's objects, one of each kind, by the path parameter that names them."""

    file_id: str
    upload_id: str
    part_id: str
    job_id: str  # succeeded, with a checkpoint and a fine-tuned model
    queued_job_id: str  # just created: validating, queued or running while B probes
    checkpoint: str  # the checkpoint's ft: name
    model: str  # the fine-tuned model's ft: name
    webhook_endpoint_id: str
    eval_id: str
    run_id: str  # completed, with output items
    output_item_id: str

    def ids(self) -> list[str]:
        return [
            self.file_id,
            self.upload_id,
            self.part_id,
            self.job_id,
            self.queued_job_id,
            self.checkpoint,
            self.model,
            self.webhook_endpoint_id,
            self.eval_id,
            self.run_id,
            self.output_item_id,
        ]


def path_values(owned: OwnedObjects, method: str) -> dict[str, list[str]]:
    """A's values for each path parameter of the spec (several where one route takes several)."""
    permissions = f"{owned.checkpoint}/permissions"
    return {
        "file_id": [owned.file_id],
        "upload_id": [owned.upload_id],
        "job_id": [owned.job_id, owned.queued_job_id],
        "webhook_endpoint_id": [owned.webhook_endpoint_id],
        "eval_id": [owned.eval_id],
        "run_id": [owned.run_id],
        "output_item_id": [owned.output_item_id],
        "model": [owned.model, owned.checkpoint],
        # /v1/fine_tuning/checkpoints/{checkpoint}: the ``.../permissions[/{id}]`` tail included.
        "checkpoint": (
            [f"{permissions}/cp_{'0' * 24}", f"{owned.model}/permissions/cp_{'0' * 24}"]
            if method == "DELETE"
            else [permissions, f"{owned.model}/permissions"]
        ),
    }


# Valid bodies, so that a 404 cannot hide behind a 400 for the body.
def request_body(owned: OwnedObjects, method: str, path: str) -> dict[str, Any] | None:
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/v1/uploads/{upload_id}/complete"): {"part_ids": [owned.part_id]},
        ("POST", "/v1/webhook_endpoints/{webhook_endpoint_id}"): {"name": "renamed"},
        ("POST", "/v1/webhook_endpoints/{webhook_endpoint_id}/test"): {
            "event_type": "fine_tuning.job.succeeded"
        },
        ("POST", "/v1/webhook_endpoints/{webhook_endpoint_id}/rotate_secret"): {},
        ("POST", "/v1/fine_tuning/checkpoints/{checkpoint}"): {"project_ids": ["proj_stranger"]},
        ("POST", "/v1/evals/{eval_id}"): {"name": "renamed"},
        ("POST", "/v1/evals/{eval_id}/runs"): {"data_source": EVAL_SOURCE},
    }
    return bodies.get((method, path))


MULTIPART_ROUTES = {("POST", "/v1/uploads/{upload_id}/parts"): "data"}
REQUIRED_QUERY = {"model": TINY_MODEL_ID}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def path_parameters(self) -> list[str]:
        return [p["name"] for p in self.spec.get("parameters", []) if p["in"] == "path"]

    @property
    def required_query(self) -> list[str]:
        return [
            p["name"]
            for p in self.spec.get("parameters", [])
            if p["in"] == "query" and p.get("required")
        ]

    @property
    def query_names(self) -> set[str]:
        return {p["name"] for p in self.spec.get("parameters", []) if p["in"] == "query"}

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def spec_operations() -> list[Operation]:
    document = json.loads(SPEC_PATH.read_text())
    return [
        Operation(method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if path.startswith("/v1/")
    ]


OPERATIONS = spec_operations()
BY_ID = [op for op in OPERATIONS if op.path_parameters]
LISTS = [op for op in OPERATIONS if not op.path_parameters and op.method == "GET"]


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, job_registry: Path
) -> Iterator[ApiServer]:
    """A stack with a gpu worker running the deterministic trainer, so jobs finish for real."""
    config = stack_config(
        tmp_path_factory.mktemp("stack-isolation"),
        redis_server.new_database_url(),
        job_registry,
        FTAPI_RATE_LIMITS__ENABLED="false",
    )
    with ApiServer(config, gpu_workers=1) as server:
        yield server


@pytest.fixture(scope="module")
def owner(api: ApiServer) -> Iterator[httpx.Client]:
    with raw_client(api, api.new_key("isolation-owner")) as http:
        yield http


@pytest.fixture(scope="module")
def stranger(api: ApiServer) -> Iterator[httpx.Client]:
    with raw_client(api, api.new_key("isolation-stranger")) as http:
        yield http


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def _wait(http: httpx.Client, path: str, done: Any, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body = _ok(http.get(path))
        if done(body):
            return body
        assert time.monotonic() < deadline, f"{path} stuck: {body}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def owned(owner: httpx.Client) -> OwnedObjects:
    """One object of each kind in project A."""
    file = _ok(
        owner.post(
            "/v1/files",
            data={"purpose": "fine-tune"},
            files={"file": ("train.jsonl", chat_jsonl(12))},
        )
    )
    _wait(owner, f"/v1/files/{file['id']}", lambda f: f["status"] == "processed")
    job = _ok(
        owner.post(
            "/v1/fine_tuning/jobs", json={"model": TINY_MODEL_ID, "training_file": file["id"]}
        )
    )
    done = _wait(
        owner,
        f"/v1/fine_tuning/jobs/{job['id']}",
        lambda j: j["status"] in ("succeeded", "failed", "cancelled"),
    )
    assert done["status"] == "succeeded", done
    checkpoint = _ok(owner.get(f"/v1/fine_tuning/jobs/{job['id']}/checkpoints"))["data"][0]
    queued = _ok(
        owner.post(
            "/v1/fine_tuning/jobs", json={"model": TINY_MODEL_ID, "training_file": file["id"]}
        )
    )
    data = chat_jsonl(3)
    upload = _ok(
        owner.post(
            "/v1/uploads",
            json={
                "filename": "u.jsonl",
                "purpose": "fine-tune",
                "bytes": len(data),
                "mime_type": "text/jsonl",
            },
        )
    )
    part = _ok(owner.post(f"/v1/uploads/{upload['id']}/parts", files={"data": ("blob", data)}))
    endpoint = _ok(owner.post("/v1/webhook_endpoints", json={"url": PUBLIC_WEBHOOK_URL}))
    evaluation = _ok(owner.post("/v1/evals", json=EVAL_BODY))
    run = _ok(owner.post(f"/v1/evals/{evaluation['id']}/runs", json={"data_source": EVAL_SOURCE}))
    run_path = f"/v1/evals/{evaluation['id']}/runs/{run['id']}"
    assert (
        _wait(owner, run_path, lambda r: r["status"] not in ("queued", "in_progress"))["status"]
        == "completed"
    )
    item = _ok(owner.get(f"{run_path}/output_items"))["data"][0]
    return OwnedObjects(
        file_id=file["id"],
        upload_id=upload["id"],
        part_id=part["id"],
        job_id=job["id"],
        queued_job_id=queued["id"],
        checkpoint=checkpoint["fine_tuned_model_checkpoint"],
        model=done["fine_tuned_model"],
        webhook_endpoint_id=endpoint["id"],
        eval_id=evaluation["id"],
        run_id=run["id"],
        output_item_id=item["id"],
    )


def _call(
    http: httpx.Client, operation: Operation, url: str, owned: OwnedObjects
) -> httpx.Response:
    unknown_query = [name for name in operation.required_query if name not in REQUIRED_QUERY]
    assert not unknown_query, f"{operation}: map required query parameters {unknown_query}"
    params = {name: REQUIRED_QUERY[name] for name in operation.required_query}
    route = (operation.method, operation.path)
    if route in MULTIPART_ROUTES:
        return http.post(url, params=params, files={MULTIPART_ROUTES[route]: ("b", b"intruder")})
    body = request_body(owned, *route)
    declared = operation.spec.get("requestBody", {})
    if declared.get("required") and body is None:
        pytest.fail(f"{operation} needs a body: add one to request_body()")
    if body is None:
        return http.request(operation.method, url, params=params)
    return http.request(operation.method, url, params=params, json=body)


def _urls(operation: Operation, owned: OwnedObjects) -> list[str]:
    values = path_values(owned, operation.method)
    unmapped = [name for name in operation.path_parameters if name not in values]
    assert not unmapped, f"{operation}: map path parameters {unmapped} in path_values()"
    urls = [operation.path]
    for name in operation.path_parameters:
        urls = [url.replace(f"{{{name}}}", value) for url in urls for value in values[name]]
    return urls


def test_the_spec_has_routes_that_take_ids() -> None:
    assert len(BY_ID) >= 20
    assert {"GET /v1/files", "GET /v1/fine_tuning/jobs", "GET /v1/models"} <= {
        str(op) for op in LISTS
    }


@pytest.mark.parametrize("operation", BY_ID, ids=str)
def test_a_stranger_gets_404_for_each_route_with_the_owners_ids(
    stranger: httpx.Client, owned: OwnedObjects, operation: Operation
) -> None:
    for url in _urls(operation, owned):
        response = _call(stranger, operation, url, owned)
        assert_openai_error(response, 404)


@pytest.mark.parametrize("operation", [op for op in BY_ID if op.method == "GET"], ids=str)
def test_the_owner_gets_200_for_the_same_reads(
    owner: httpx.Client, owned: OwnedObjects, operation: Operation
) -> None:
    # The control: the ids the stranger was refused are real and readable by their owner.
    for url in _urls(operation, owned):
        response = _call(owner, operation, url, owned)
        assert response.status_code == 200, (url, response.text)


@pytest.mark.parametrize("operation", LISTS, ids=str)
def test_a_strangers_lists_never_show_the_owners_objects(
    stranger: httpx.Client, owned: OwnedObjects, operation: Operation
) -> None:
    cursors: list[str | None] = [None]
    if "after" in operation.query_names:
        cursors += owned.ids()
    for after in cursors:
        params = {} if after is None else {"after": after}
        response = stranger.get(operation.path, params=params)
        assert response.status_code in (200, 400, 404), response.text
        for owned_id in owned.ids():
            assert owned_id not in response.text.replace(f'"{after}"', ""), (operation, after)


def test_the_owner_still_sees_everything_unchanged(
    owner: httpx.Client, stranger: httpx.Client, owned: OwnedObjects
) -> None:
    # Runs after the stranger's calls (same module, declared last).
    assert _ok(owner.get(f"/v1/files/{owned.file_id}"))["status"] == "processed"
    assert owner.get(f"/v1/files/{owned.file_id}/content").content == chat_jsonl(12)
    assert _ok(owner.get(f"/v1/fine_tuning/jobs/{owned.job_id}"))["status"] == "succeeded"
    queued = _ok(owner.get(f"/v1/fine_tuning/jobs/{owned.queued_job_id}"))
    assert queued["status"] != "cancelled"
    assert not queued.get("paused")
    assert _ok(owner.get(f"/v1/models/{owned.model}"))["id"] == owned.model
    endpoint = _ok(owner.get(f"/v1/webhook_endpoints/{owned.webhook_endpoint_id}"))
    assert endpoint["name"] != "renamed"
    permissions = _ok(owner.get(f"/v1/fine_tuning/checkpoints/{owned.checkpoint}/permissions"))
    assert permissions["data"] == []
    done = _ok(
        owner.post(f"/v1/uploads/{owned.upload_id}/complete", json={"part_ids": [owned.part_id]})
    )
    assert done["status"] == "completed"
    assert done["bytes"] == len(chat_jsonl(3))
    listed = [item["id"] for item in _ok(owner.get("/v1/files"))["data"]]
    assert owned.file_id in listed
    assert _ok(owner.get(f"/v1/evals/{owned.eval_id}"))["name"] == "isolation"
    run_path = f"/v1/evals/{owned.eval_id}/runs/{owned.run_id}"
    assert _ok(owner.get(run_path))["status"] == "completed"
    runs = _ok(owner.get(f"/v1/evals/{owned.eval_id}/runs"))["data"]
    assert [run["id"] for run in runs] == [owned.run_id]
    assert _ok(owner.get(f"{run_path}/output_items/{owned.output_item_id}"))["status"] == "pass"
