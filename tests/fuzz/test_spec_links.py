"""The spec's links, followed by hand: create a file → create a job → retrieve it → cancel it.

The stateful run follows links at random; this walks the one chain issue #9 names, using only
what ``openapi/openapi.json`` declares (operation ids, ``$response.body#/...`` expressions), so a
link that names a wrong operation or field fails here deterministically.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fuzz.spec import SPEC_PATH
from tests.support.http_checks import raw_client
from tests.support.jobs import TINY_MODEL_ID, chat_jsonl
from tests.support.stack import ApiServer

DOCUMENT = json.loads(SPEC_PATH.read_text())
OPERATIONS = {
    operation["operationId"]: (method.upper(), path)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
}


def link(method: str, path: str, name: str) -> dict[str, Any]:
    return dict(DOCUMENT["paths"][path][method.lower()]["responses"]["200"]["links"][name])


def evaluate(expression: Any, body: dict[str, Any]) -> Any:
    """The ``$response.body#/a/b`` pointers our links use (nested in objects and lists too)."""
    if isinstance(expression, dict):
        return {key: evaluate(value, body) for key, value in expression.items()}
    if isinstance(expression, list):
        return [evaluate(value, body) for value in expression]
    if isinstance(expression, str) and expression.startswith("$response.body#/"):
        value: Any = body
        for part in expression.removeprefix("$response.body#/").split("/"):
            value = value[int(part)] if isinstance(value, list) else value[part]
        return value
    return expression


def follow(
    http: httpx.Client, source: tuple[str, str], name: str, body: dict[str, Any], **extra: Any
) -> httpx.Response:
    """Call the target of link ``name`` of ``source`` with what it takes from ``body``."""
    definition = link(*source, name)
    method, path = OPERATIONS[definition["operationId"]]
    for parameter, expression in definition.get("parameters", {}).items():
        path = path.replace(f"{{{parameter}}}", str(evaluate(expression, body)))
    payload = evaluate(definition.get("requestBody"), body)
    if payload is not None or extra:
        return http.request(method, path, json={**extra, **(payload or {})})
    return http.request(method, path)


@pytest.fixture
def http(fuzz_api: ApiServer) -> Iterator[httpx.Client]:
    with raw_client(fuzz_api, fuzz_api.new_key("fuzz-links")) as client:
        yield client


def test_file_to_job_to_retrieve_to_cancel(http: httpx.Client) -> None:
    created_file = http.post(
        "/v1/files", data={"purpose": "fine-tune"}, files={"file": ("t.jsonl", chat_jsonl(12))}
    )
    assert created_file.status_code == 200, created_file.text

    job = follow(http, ("POST", "/v1/files"), "CreateJob", created_file.json(), model=TINY_MODEL_ID)
    assert job.status_code == 200, job.text
    assert job.json()["training_file"] == created_file.json()["id"]

    retrieved = follow(http, ("POST", "/v1/fine_tuning/jobs"), "RetrieveJob", job.json())
    assert retrieved.json()["id"] == job.json()["id"]

    cancelled = follow(
        http, ("GET", "/v1/fine_tuning/jobs/{job_id}"), "CancelJob", retrieved.json()
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"


def test_upload_to_part_to_complete_to_file(http: httpx.Client) -> None:
    data = chat_jsonl(2)
    upload = http.post(
        "/v1/uploads",
        json={
            "filename": "u.jsonl",
            "purpose": "fine-tune",
            "bytes": len(data),
            "mime_type": "text/jsonl",
        },
    ).json()
    definition = link("POST", "/v1/uploads", "AddUploadPart")
    assert OPERATIONS[definition["operationId"]] == ("POST", "/v1/uploads/{upload_id}/parts")
    part = http.post(
        f"/v1/uploads/{evaluate(definition['parameters']['upload_id'], upload)}/parts",
        files={"data": ("b", data)},
    )
    assert part.status_code == 200, part.text

    complete = link("POST", "/v1/uploads/{upload_id}/parts", "CompleteUpload")
    assert complete["parameters"] == {"upload_id": "$request.path.upload_id"}
    done = http.post(
        f"/v1/uploads/{upload['id']}/complete", json=evaluate(complete["requestBody"], part.json())
    )
    assert done.status_code == 200, done.text

    file = follow(http, ("POST", "/v1/uploads/{upload_id}/complete"), "RetrieveFile", done.json())
    assert file.json()["bytes"] == len(data)


def test_every_link_names_an_existing_operation_and_its_parameters() -> None:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            for name, definition in operation["responses"].get("200", {}).get("links", {}).items():
                _, target_path = OPERATIONS[definition["operationId"]]
                for parameter in definition.get("parameters", {}):
                    assert f"{{{parameter}}}" in target_path, (method, path, name)
