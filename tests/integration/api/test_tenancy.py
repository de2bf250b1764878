"""Another project's objects are invisible: 404 exactly like a missing id, and nothing changes.

Project A (``owner``) and project B (``stranger``) hold keys of the same organization; B probes
every File and Upload route with A's ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.http_checks import (
    TRAINING_LINE,
    assert_openai_error,
    listed_ids,
    random_id,
    raw_client,
    upload_file,
)
from tests.support.stack import ApiServer

FILE_ROUTES = [
    ("GET", "/v1/files/{id}"),
    ("GET", "/v1/files/{id}/content"),
    ("DELETE", "/v1/files/{id}"),
]
UPLOAD_ACTIONS = ["parts", "complete", "cancel"]


@pytest.fixture
def owner(api: ApiServer, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """Project A, which owns the objects (a fresh project per test)."""
    with raw_client(api, api.new_key(f"owner-{request.node.name}"[:120])) as http:
        yield http


@pytest.fixture
def stranger(api: ApiServer, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """Project B, which must not see A's objects (a fresh project per test)."""
    with raw_client(api, api.new_key(f"stranger-{request.node.name}"[:120])) as http:
        yield http


def assert_same_as_missing(
    foreign: httpx.Response, missing: httpx.Response, ids: tuple[str, str]
) -> None:
    """A foreign object's answer equals a missing one's, byte for byte once the ids are swapped."""
    foreign_id, missing_id = ids
    assert_openai_error(foreign, 404)
    assert_openai_error(missing, 404)
    assert foreign.json() == {
        "error": {
            key: value.replace(missing_id, foreign_id) if isinstance(value, str) else value
            for key, value in missing.json()["error"].items()
        }
    }
    assert foreign_id in foreign.json()["error"]["message"]


@pytest.mark.parametrize(("method", "path"), FILE_ROUTES)
def test_a_foreign_file_answers_exactly_like_a_missing_one(
    owner: httpx.Client, stranger: httpx.Client, method: str, path: str
) -> None:
    body = TRAINING_LINE * 7
    created = upload_file(owner, body)
    missing_id = random_id("file-")

    foreign = stranger.request(method, path.format(id=created["id"]))
    missing = stranger.request(method, path.format(id=missing_id))

    assert_same_as_missing(foreign, missing, (created["id"], missing_id))
    after = owner.get(f"/v1/files/{created['id']}").json()
    volatile = {"status", "status_details"}  # content validation may finish meanwhile
    assert {k: v for k, v in after.items() if k not in volatile} == {
        k: v for k, v in created.items() if k not in volatile
    }
    assert owner.get(f"/v1/files/{created['id']}/content").content == body


def _upload_call(
    http: httpx.Client, action: str, upload_id: str, part_ids: list[str]
) -> httpx.Response:
    if action == "parts":
        return http.post(f"/v1/uploads/{upload_id}/parts", files={"data": ("blob", b"intruder")})
    if action == "complete":
        return http.post(f"/v1/uploads/{upload_id}/complete", json={"part_ids": part_ids})
    return http.post(
        f"/v1/uploads/{upload_id}/cancel", headers={"Content-Type": "application/json"}, content=b""
    )


def _pending_upload(owner: httpx.Client, data: bytes) -> tuple[dict[str, Any], str]:
    """A pending upload of ``data`` with its one part added; returns the upload and the part id."""
    upload = owner.post(
        "/v1/uploads",
        json={
            "filename": "a.jsonl",
            "purpose": "fine-tune",
            "bytes": len(data),
            "mime_type": "text/jsonl",
        },
    ).json()
    part = owner.post(f"/v1/uploads/{upload['id']}/parts", files={"data": ("blob", data)})
    assert part.status_code == 200, part.text
    return upload, part.json()["id"]


@pytest.mark.parametrize("action", UPLOAD_ACTIONS)
def test_a_foreign_upload_answers_exactly_like_a_missing_one(
    owner: httpx.Client, stranger: httpx.Client, action: str
) -> None:
    data = TRAINING_LINE * 3
    upload, part_id = _pending_upload(owner, data)
    missing_id = random_id("upload_")

    foreign = _upload_call(stranger, action, upload["id"], [part_id])
    missing = _upload_call(stranger, action, missing_id, [part_id])

    assert_same_as_missing(foreign, missing, (upload["id"], missing_id))
    # A's upload is untouched: still pending, with only A's part, and completes normally.
    done = owner.post(
        f"/v1/uploads/{upload['id']}/complete",
        json={"part_ids": [part_id], "md5": hashlib.md5(data).hexdigest()},  # noqa: S324 - the API's checksum
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert owner.get(f"/v1/files/{done.json()['file']['id']}/content").content == data
    assert listed_ids(stranger) == []


def test_a_foreign_part_cannot_be_completed_into_ones_own_upload(
    owner: httpx.Client, stranger: httpx.Client
) -> None:
    data = TRAINING_LINE * 2
    upload, part_id = _pending_upload(owner, data)
    own = stranger.post(
        "/v1/uploads",
        json={
            "filename": "b.jsonl",
            "purpose": "fine-tune",
            "bytes": len(data),
            "mime_type": "text/jsonl",
        },
    ).json()

    response = stranger.post(f"/v1/uploads/{own['id']}/complete", json={"part_ids": [part_id]})

    assert assert_openai_error(response, 400)["param"] == "part_ids"
    assert listed_ids(stranger) == []
    assert (
        owner.post(f"/v1/uploads/{upload['id']}/complete", json={"part_ids": [part_id]}).status_code
        == 200
    )


def test_each_project_lists_only_its_own_files(owner: httpx.Client, stranger: httpx.Client) -> None:
    owners = [upload_file(owner, name=f"a{i}.jsonl")["id"] for i in range(3)]
    strangers = [upload_file(stranger, name="b.jsonl")["id"]]

    assert sorted(listed_ids(owner)) == sorted(owners)
    assert listed_ids(stranger) == strangers
    assert listed_ids(stranger, purpose="fine-tune") == strangers
    assert listed_ids(stranger, order="asc", limit="1") == strangers
    # A's id as a cursor gives B no view into A's list.
    for order in ("asc", "desc"):
        assert set(listed_ids(stranger, after=owners[1], order=order)) <= set(strangers)


def test_a_new_project_starts_empty(api: ApiServer, owner: httpx.Client) -> None:
    upload_file(owner)

    with raw_client(api, api.new_key("newcomer-project")) as newcomer:
        response = newcomer.get("/v1/files")

    assert response.json() == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
