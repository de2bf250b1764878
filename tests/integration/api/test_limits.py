"""Size limits on a server configured small: 413s that neither buffer the body nor store anything.

One api (SQLite, local disk) with a 5 MB file limit, 2 MB parts and 4 KiB JSON bodies, so
over-limit bodies stay cheap to send.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.http.multipart import MAX_PARTS, MAX_TEXT_FIELD_BYTES
from tests.support.http_checks import (
    TRAINING_LINE,
    assert_openai_error,
    listed_ids,
    raw_client,
    upload_file,
)
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, StackConfig

MAX_FILE_BYTES = 5_000_000
MAX_PART_BYTES = 2_000_000
MAX_JSON_BODY_BYTES = 4096
OVER_LIMIT_UPLOAD_BYTES = 60_000_000
MAX_RSS_GROWTH_BYTES = 30_000_000
BOUNDARY = "limitsBoundary42"
_MB_CHUNK = b"x" * 1_000_000


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[ApiServer]:
    """This module's own api with small limits (overrides the four-stack ``api`` of conftest)."""
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("stack-limits"),
        redis_url=redis_server.new_database_url(),
        extra_env={
            "FTAPI_LIMITS__MAX_FILE_BYTES": str(MAX_FILE_BYTES),
            "FTAPI_LIMITS__MAX_UPLOAD_PART_BYTES": str(MAX_PART_BYTES),
            "FTAPI_LIMITS__MAX_JSON_BODY_BYTES": str(MAX_JSON_BODY_BYTES),
        },
    )
    with ApiServer(config) as server:
        yield server


@pytest.fixture
def http(api: ApiServer, api_key: str) -> Iterator[httpx.Client]:
    """A raw HTTP client with a key of this test's own project."""
    with raw_client(api, api_key) as client:
        yield client


def stored_blobs(api: ApiServer) -> set[Path]:
    """Every file in the local blob store, temp files included."""
    return {path for path in (api.config.data_dir / "blobs").rglob("*") if path.is_file()}


class PeakRss:
    """Samples the server's RSS in a thread while the ``with`` block runs."""

    def __init__(self, api: ApiServer, interval_s: float = 0.005) -> None:
        self._api = api
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.before_bytes = 0
        self.peak_bytes = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._api.rss_bytes())
            self._stop.wait(self._interval_s)

    @property
    def growth_bytes(self) -> int:
        return self.peak_bytes - self.before_bytes

    def __enter__(self) -> PeakRss:
        self.before_bytes = self.peak_bytes = self._api.rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._api.rss_bytes())


def _field(name: str, value: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


def file_form(file_bytes: int, *, purpose: str = "user_data") -> tuple[int, Iterator[bytes]]:
    """A multipart File form whose file has ``file_bytes`` bytes, generated 1 MB at a time."""
    head = (
        _field("purpose", purpose)
        + (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
    )
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        full, rest = divmod(file_bytes, len(_MB_CHUNK))
        for _ in range(full):
            yield _MB_CHUNK
        if rest:
            yield _MB_CHUNK[:rest]
        yield tail

    return len(head) + file_bytes + len(tail), chunks()


def post_form(
    http: httpx.Client, path: str, size: int, chunks: Iterator[bytes], *, declare: bool
) -> httpx.Response:
    """POST a generated multipart body, with its Content-Length or chunked without one."""
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if declare:
        headers["Content-Length"] = str(size)
    return http.post(path, headers=headers, content=chunks)


def assert_server_answers_normally(http: httpx.Client) -> None:
    """The same connection still gets ordinary answers: a listing and a small upload."""
    created = upload_file(http, TRAINING_LINE)
    assert http.get(f"/v1/files/{created['id']}/content").content == TRAINING_LINE
    assert http.delete(f"/v1/files/{created['id']}").status_code == 200


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "chunked"])
def test_an_upload_far_over_the_file_limit_is_413_without_buffering(
    api: ApiServer, http: httpx.Client, declare: bool
) -> None:
    assert_server_answers_normally(http)  # warm: first-request allocations are not the body's
    blobs_before = stored_blobs(api)
    size, chunks = file_form(OVER_LIMIT_UPLOAD_BYTES)

    with PeakRss(api) as rss:
        response = post_form(http, "/v1/files", size, chunks, declare=declare)

    assert_openai_error(response, 413)
    assert response.json()["error"]["code"] == "payload_too_large"
    assert rss.growth_bytes < MAX_RSS_GROWTH_BYTES, f"RSS grew by {rss.growth_bytes} bytes"
    assert listed_ids(http) == []
    assert stored_blobs(api) == blobs_before
    assert_server_answers_normally(http)


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "chunked"])
def test_one_byte_over_the_file_limit_is_413_naming_file(
    api: ApiServer, http: httpx.Client, declare: bool
) -> None:
    blobs_before = stored_blobs(api)
    size, chunks = file_form(MAX_FILE_BYTES + 1)

    response = post_form(http, "/v1/files", size, chunks, declare=declare)

    assert assert_openai_error(response, 413)["param"] == "file"
    assert listed_ids(http) == []
    assert stored_blobs(api) == blobs_before
    assert_server_answers_normally(http)


def test_a_file_of_exactly_the_limit_is_stored(http: httpx.Client) -> None:
    size, chunks = file_form(MAX_FILE_BYTES)

    response = post_form(http, "/v1/files", size, chunks, declare=False)

    assert response.status_code == 200, response.text
    created = response.json()
    assert created["bytes"] == MAX_FILE_BYTES
    content = http.get(f"/v1/files/{created['id']}/content").content
    assert hashlib.sha256(content).digest() == hashlib.sha256(b"x" * MAX_FILE_BYTES).digest()


def _create_upload(http: httpx.Client, total_bytes: int) -> dict[str, Any]:
    response = http.post(
        "/v1/uploads",
        json={
            "filename": "p.jsonl",
            "purpose": "fine-tune",
            "bytes": total_bytes,
            "mime_type": "text/jsonl",
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def part_form(part_bytes: int) -> tuple[int, Iterator[bytes]]:
    """A multipart part form (``data``) of ``part_bytes`` bytes, generated 1 MB at a time."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"; filename="blob"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        full, rest = divmod(part_bytes, len(_MB_CHUNK))
        for _ in range(full):
            yield _MB_CHUNK
        if rest:
            yield _MB_CHUNK[:rest]
        yield tail

    return len(head) + part_bytes + len(tail), chunks()


@pytest.mark.parametrize(
    ("part_bytes", "declare"),
    [
        pytest.param(MAX_PART_BYTES + 1, True, id="one-byte-over"),
        pytest.param(MAX_PART_BYTES + 1, False, id="one-byte-over-chunked"),
        pytest.param(20 * MAX_PART_BYTES, True, id="far-over"),
        pytest.param(20 * MAX_PART_BYTES, False, id="far-over-chunked"),
    ],
)
def test_a_part_over_the_part_limit_is_413_and_leaves_the_upload_usable(
    api: ApiServer, http: httpx.Client, part_bytes: int, declare: bool
) -> None:
    upload = _create_upload(http, MAX_PART_BYTES)
    blobs_before = stored_blobs(api)
    size, chunks = part_form(part_bytes)

    response = post_form(http, f"/v1/uploads/{upload['id']}/parts", size, chunks, declare=declare)

    assert_openai_error(response, 413)
    assert stored_blobs(api) == blobs_before
    # No part was recorded: one part of exactly the limit completes the upload alone.
    size, chunks = part_form(MAX_PART_BYTES)
    part = post_form(http, f"/v1/uploads/{upload['id']}/parts", size, chunks, declare=True)
    assert part.status_code == 200, part.text
    done = http.post(f"/v1/uploads/{upload['id']}/complete", json={"part_ids": [part.json()["id"]]})
    assert done.status_code == 200, done.text
    assert done.json()["file"]["bytes"] == MAX_PART_BYTES


def _padded_upload_json(total_bytes: int) -> bytes:
    """A valid ``POST /v1/uploads`` body padded with whitespace to exactly ``total_bytes``."""
    body = json.dumps(
        {"filename": "j.jsonl", "purpose": "fine-tune", "bytes": 10, "mime_type": "text/jsonl"}
    ).encode()
    return body[:-1] + b" " * (total_bytes - len(body)) + b"}"


def test_a_json_body_of_exactly_the_limit_is_accepted(http: httpx.Client) -> None:
    body = _padded_upload_json(MAX_JSON_BODY_BYTES)
    assert len(body) == MAX_JSON_BODY_BYTES

    response = http.post("/v1/uploads", headers={"Content-Type": "application/json"}, content=body)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    "total_bytes", [MAX_JSON_BODY_BYTES + 1, 1_000_000], ids=["one-byte-over", "far-over"]
)
def test_a_json_body_over_the_limit_is_413(
    http: httpx.Client, declare: bool, total_bytes: int
) -> None:
    body = _padded_upload_json(total_bytes)
    headers = {"Content-Type": "application/json"}
    content: bytes | Iterator[bytes] = body
    if not declare:
        content = iter([body[i : i + 1000] for i in range(0, len(body), 1000)])

    response = http.post("/v1/uploads", headers=headers, content=content)

    if declare:
        assert response.request.headers["content-length"] == str(total_bytes)
    else:
        assert response.request.headers["transfer-encoding"] == "chunked"
    error = assert_openai_error(response, 413)
    assert error["code"] == "payload_too_large"
    assert_server_answers_normally(http)


def test_a_form_field_over_64_kib_is_413_naming_it(http: httpx.Client) -> None:
    response = http.post(
        "/v1/files",
        data={"purpose": "p" * (MAX_TEXT_FIELD_BYTES + 1)},
        files={"file": ("t.jsonl", TRAINING_LINE)},
    )

    assert assert_openai_error(response, 413)["param"] == "purpose"
    assert listed_ids(http) == []


def test_a_form_with_too_many_parts_is_413(http: httpx.Client) -> None:
    response = http.post(
        "/v1/files",
        data={"purpose": "user_data"} | {f"extra{i}": "x" for i in range(MAX_PARTS)},
        files={"file": ("t.jsonl", TRAINING_LINE)},
    )

    assert_openai_error(response, 413)
    assert listed_ids(http) == []
