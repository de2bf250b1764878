"""Hostile input over raw HTTP: every case gets a clear 4xx in OpenAI's envelope, never a 5xx,
and what the project stored before is still there, whole and listed, afterwards.

Complements ``tests/integration/api`` (401 forms, list parameters, size limits, multipart
errors) and ``tests/integration/webhooks/test_ssrf_http.py`` with the cases of issue #9 item 4:
deep and huge JSON, invalid UTF-8, NUL bytes, a million tiny lines, over-long lines, path
traversal and control characters, ids with ``../`` and ``%2F``, huge and negative numbers,
unknown fields, wrong content types, internal webhook targets in odd notations, odd
Authorization headers, and the inference routes' error paths (no engine runs here).

Client filenames are metadata only: traversal and control characters in them are neutralised
(200, a safe display name, the body under the project's prefix), not refused.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http_checks import assert_openai_error, raw_client, upload_file
from tests.support.jobs import TINY_MODEL_ID, chat_jsonl, stack_config
from tests.support.services import RedisServer
from tests.support.stack import ApiServer

MAX_LINE_BYTES = 64 * 1024
VALIDATION_BUDGET_S = 90.0
UPLOAD_JSON = {
    "filename": "a.jsonl",
    "purpose": "fine-tune",
    "bytes": 10,
    "mime_type": "text/jsonl",
}
DEEP_NESTING = 100_000
HostileTally = Counter[str]  # the session's ``hostile_tally`` fixture (tests/security/conftest.py)


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, job_registry: Path
) -> Iterator[ApiServer]:
    """Default limits except a 64 KiB training line (so an over-long line stays cheap)."""
    config = stack_config(
        tmp_path_factory.mktemp("stack-hostile"),
        redis_server.new_database_url(),
        job_registry,
        FTAPI_RATE_LIMITS__ENABLED="false",
        FTAPI_LIMITS__MAX_TRAINING_LINE_BYTES=str(MAX_LINE_BYTES),
    )
    with ApiServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def http(api: ApiServer) -> Iterator[httpx.Client]:
    with raw_client(api, api.new_key("hostile")) as client:
        yield client


@dataclass(frozen=True)
class Stored:
    """What the project holds before the hostile requests: a processed file and a job."""

    file_id: str
    content: bytes
    job_id: str


@pytest.fixture(scope="module")
def stored(http: httpx.Client) -> Stored:
    content = chat_jsonl(12)
    file = upload_file(http, content, name="keep.jsonl")
    wait_for_file(http, file["id"], VALIDATION_BUDGET_S)
    job = http.post(
        "/v1/fine_tuning/jobs", json={"model": TINY_MODEL_ID, "training_file": file["id"]}
    )
    assert job.status_code == 200, job.text
    return Stored(file_id=file["id"], content=content, job_id=job.json()["id"])


def wait_for_file(http: httpx.Client, file_id: str, budget_s: float) -> dict[str, Any]:
    """Poll until validation has decided (processed or error) within ``budget_s``."""
    deadline = time.monotonic() + budget_s
    while True:
        body = dict(http.get(f"/v1/files/{file_id}").json())
        if body["status"] in ("processed", "error"):
            return body
        assert time.monotonic() < deadline, f"validation of {file_id} took over {budget_s}s"
        time.sleep(0.2)


JSON = {"Content-Type": "application/json"}
Send = Callable[[httpx.Client], httpx.Response]


def post_json_bytes(path: str, body: bytes, headers: dict[str, str] = JSON) -> Send:
    return lambda http: http.post(path, headers=headers, content=body)


def post_json(path: str, body: Any) -> Send:
    return lambda http: http.post(path, json=body)


def get(path: str, **params: str) -> Send:
    return lambda http: http.get(path, params=params)


def get_stored_file(tail: str, **params: str) -> Send:
    """A GET under the stored file's path (its id comes from the first listed file)."""

    def send(http: httpx.Client) -> httpx.Response:
        file_id = http.get("/v1/files", params={"order": "asc", "limit": "1"}).json()["data"][0][
            "id"
        ]
        return http.get(f"/v1/files/{file_id}{tail}", params=params)

    return send


def deep(nesting: int, inner: bytes = b"") -> bytes:
    return b"[" * nesting + inner + b"]" * nesting


def deep_object(field: str, nesting: int) -> bytes:
    return b'{"' + field.encode() + b'": ' + deep(nesting) + b"}"


JOB_BODY = {"model": TINY_MODEL_ID, "training_file": "file-abc"}

# name -> (request, expected status). Each one is a case tried; none may answer 5xx.
REFUSED: dict[str, tuple[Send, int]] = {
    # Deep, huge and broken JSON.
    "deep-array-upload": (post_json_bytes("/v1/uploads", deep(DEEP_NESTING)), 400),
    "deep-field-upload": (
        post_json_bytes("/v1/uploads", deep_object("filename", DEEP_NESTING)),
        400,
    ),
    "deep-field-job": (
        post_json_bytes("/v1/fine_tuning/jobs", deep_object("model", DEEP_NESTING)),
        400,
    ),
    "deep-metadata-job": (
        post_json_bytes(
            "/v1/fine_tuning/jobs",
            json.dumps(JOB_BODY)[:-1].encode() + b', "metadata": ' + deep(DEEP_NESTING) + b"}",
        ),
        400,
    ),
    "deep-webhook": (
        post_json_bytes("/v1/webhook_endpoints", deep_object("url", DEEP_NESTING)),
        400,
    ),
    "deep-chat": (
        post_json_bytes("/v1/chat/completions", deep_object("messages", DEEP_NESTING)),
        400,
    ),
    "deep-estimate": (post_json_bytes("/v1/fine_tuning/estimate", deep(DEEP_NESTING)), 400),
    "huge-integer": (
        post_json_bytes("/v1/uploads", json.dumps(UPLOAD_JSON).replace("10", "9" * 5000).encode()),
        400,
    ),
    "huge-float": (post_json("/v1/uploads", UPLOAD_JSON | {"bytes": 1e308}), 400),
    "nan-seed": (
        post_json_bytes(
            "/v1/fine_tuning/jobs", b'{"model": "m", "training_file": "f", "seed": NaN}'
        ),
        400,
    ),
    "invalid-utf8-json": (post_json_bytes("/v1/uploads", b'{"filename": "\xff\xfe.jsonl"}'), 400),
    "lone-surrogate": (
        post_json_bytes(
            "/v1/uploads", json.dumps(UPLOAD_JSON).replace("a.jsonl", "\\ud800").encode()
        ),
        400,
    ),
    "truncated-json": (post_json_bytes("/v1/uploads", b'{"filename": "a'), 400),
    "json-array-body": (post_json("/v1/uploads", [UPLOAD_JSON]), 400),
    "json-null-body": (post_json_bytes("/v1/fine_tuning/jobs", b"null"), 400),
    "empty-json-body": (post_json_bytes("/v1/webhook_endpoints", b""), 400),
    "nul-in-json": (post_json_bytes("/v1/uploads", b'{"filename": "a\x00.jsonl"}'), 400),
    "oversized-json": (post_json_bytes("/v1/uploads", b" " * 2_000_000 + b"{}"), 413),
    # Unknown fields, wrong types, negative and huge numbers.
    "unknown-field": (post_json("/v1/uploads", UPLOAD_JSON | {"owner": "someone-else"}), 400),
    "unknown-nested-field": (
        post_json(
            "/v1/fine_tuning/jobs",
            JOB_BODY
            | {"method": {"type": "supervised", "supervised": {"hyperparameters": {"x": 1}}}},
        ),
        400,
    ),
    "project-id-in-body": (
        post_json("/v1/webhook_endpoints", {"url": "https://93.184.216.34/", "project_id": "p"}),
        400,
    ),
    "negative-bytes": (post_json("/v1/uploads", UPLOAD_JSON | {"bytes": -5}), 400),
    "huge-bytes": (post_json("/v1/uploads", UPLOAD_JSON | {"bytes": 10**30}), 400),
    "negative-expiry": (
        post_json(
            "/v1/uploads", UPLOAD_JSON | {"expires_after": {"anchor": "created_at", "seconds": -1}}
        ),
        400,
    ),
    "negative-epochs": (
        post_json("/v1/fine_tuning/jobs", JOB_BODY | {"hyperparameters": {"n_epochs": -1}}),
        400,
    ),
    "negative-seed": (post_json("/v1/fine_tuning/jobs", JOB_BODY | {"seed": -1}), 400),
    "string-as-number": (post_json("/v1/uploads", UPLOAD_JSON | {"bytes": "ten"}), 400),
    "list-limit-huge": (get("/v1/files", limit=str(10**30)), 400),
    "list-limit-int64": (get("/v1/fine_tuning/jobs", limit="9223372036854775808"), 400),
    "list-limit-negative": (get("/v1/webhook_endpoints", limit="-1"), 400),
    "list-limit-float": (get("/v1/fine_tuning/jobs", limit="1.5"), 400),
    "events-limit-huge": (get("/v1/fine_tuning/jobs/ftjob-abc/events", limit=str(10**30)), 400),
    "preview-line-negative": (get_stored_file("/preview", model=TINY_MODEL_ID, line="-1"), 400),
    "preview-line-zero": (get_stored_file("/preview", model=TINY_MODEL_ID, line="0"), 400),
    "preview-line-huge": (get_stored_file("/preview", model=TINY_MODEL_ID, line=str(10**30)), 400),
    "report-model-dotdot": (get_stored_file("/report", model="../../../etc/passwd"), 400),
    # Ids with traversal, encoded separators and control characters.
    "file-id-dotdot": (get("/v1/files/..%2F..%2Fetc%2Fpasswd"), 404),
    "file-id-dotdot-content": (get("/v1/files/..%2F..%2F..%2Fetc%2Fpasswd/content"), 404),
    "file-id-dots": (get("/v1/files/%2E%2E/content"), 404),
    "file-id-backslash": (get("/v1/files/..%5C..%5Cwin.ini"), 404),
    "file-id-nul": (get("/v1/files/file-abc%00/content"), 404),
    "file-id-newline": (get("/v1/files/file-abc%0D%0AX-Injected:%201"), 404),
    "job-id-dotdot": (get("/v1/fine_tuning/jobs/..%2F..%2Fjobs"), 404),
    "job-id-encoded-slash": (
        lambda http: http.post("/v1/fine_tuning/jobs/ftjob-a%2F..%2Fb/cancel"),
        404,
    ),
    "upload-id-dotdot": (lambda http: http.post("/v1/uploads/..%2Fupload_x/cancel"), 404),
    "webhook-id-dotdot": (get("/v1/webhook_endpoints/..%2F..%2Fwebhook_endpoints"), 404),
    "model-id-dotdot": (get("/v1/models/..%2F..%2F..%2Fetc%2Fpasswd"), 404),
    "model-id-ft-dotdot": (get("/v1/models/ft:..%2F..%2Fx:ftapi::abc"), 404),
    "delete-model-dotdot": (lambda http: http.delete("/v1/models/ft:%2E%2E%2Fx"), 404),
    "checkpoint-dotdot": (get("/v1/fine_tuning/checkpoints/..%2F..%2Fx/permissions"), 404),
    # Wrong content types.
    "json-route-text-plain": (
        post_json_bytes("/v1/uploads", b"hello", {"Content-Type": "text/plain"}),
        400,
    ),
    "json-route-form": (
        lambda http: http.post("/v1/fine_tuning/jobs", data={"model": "m", "training_file": "f"}),
        400,
    ),
    "json-route-multipart": (
        lambda http: http.post("/v1/webhook_endpoints", files={"url": ("u", b"https://x/")}),
        400,
    ),
    "multipart-route-json": (post_json("/v1/files", {"purpose": "fine-tune"}), 415),
    "multipart-route-text": (
        post_json_bytes("/v1/files", b"x", {"Content-Type": "text/plain"}),
        415,
    ),
    "multipart-no-boundary": (
        post_json_bytes("/v1/files", b"x", {"Content-Type": "multipart/form-data"}),
        400,
    ),
    "multipart-garbage": (
        post_json_bytes(
            "/v1/files", b"\xff" * 1000, {"Content-Type": "multipart/form-data; boundary=b"}
        ),
        400,
    ),
    "filename-over-header-limit": (
        lambda http: http.post(
            "/v1/files", data={"purpose": "fine-tune"}, files={"file": ("x" * 20_000, b"{}")}
        ),
        413,
    ),
    "part-route-json": (
        lambda http: http.post("/v1/uploads/upload_abc/parts", json={"data": "x"}),
        415,
    ),
    # Inference routes (no engine in this stack): their request errors.
    "chat-unknown-model": (
        post_json(
            "/v1/chat/completions",
            {"model": "nope", "messages": [{"role": "user", "content": "x"}]},
        ),
        404,
    ),
    "chat-foreign-ft-model": (
        post_json(
            "/v1/chat/completions",
            {
                "model": f"ft:{TINY_MODEL_ID}:other:x:abc",
                "messages": [{"role": "user", "content": "x"}],
            },
        ),
        404,
    ),
    "chat-no-messages": (
        post_json("/v1/chat/completions", {"model": TINY_MODEL_ID, "messages": []}),
        400,
    ),
    "chat-bad-role": (
        post_json(
            "/v1/chat/completions",
            {"model": TINY_MODEL_ID, "messages": [{"role": "god", "content": "x"}]},
        ),
        400,
    ),
    "chat-negative-tokens": (
        post_json(
            "/v1/chat/completions",
            {
                "model": TINY_MODEL_ID,
                "messages": [{"role": "user", "content": "x"}],
                "max_tokens": -1,
            },
        ),
        400,
    ),
    "chat-unknown-field": (
        post_json(
            "/v1/chat/completions",
            {"model": TINY_MODEL_ID, "messages": [{"role": "user", "content": "x"}], "evil": True},
        ),
        400,
    ),
    "chat-invalid-utf8": (post_json_bytes("/v1/chat/completions", b'{"model": "\xff"}'), 400),
    "completion-empty-prompt-list": (
        post_json("/v1/completions", {"model": TINY_MODEL_ID, "prompt": []}),
        400,
    ),
    "completion-unknown-model": (
        post_json("/v1/completions", {"model": "../../x", "prompt": "hi"}),
        404,
    ),
    "completion-text-plain": (
        post_json_bytes("/v1/completions", b"prompt=hi", {"Content-Type": "text/plain"}),
        400,
    ),
}

# Webhook URLs reaching internal addresses, in the notations an SSRF filter tends to miss.
INTERNAL_WEBHOOK_URLS = [
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://127.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fd00::1]/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://10.0.0.1/",
    "http://192.168.0.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST./",
    "https://user:secret@93.184.216.34/",
    "ftp://93.184.216.34/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "http://93.184.216.34:6379\r\nX-Injected: 1/",
]

# Authorization headers that must all be 401 invalid_api_key (bytes: sent as given).
ODD_AUTHORIZATIONS: list[bytes] = [
    b"Bearer  " + b"sk-ft-" + b"A" * 43,  # two spaces
    b"bearer sk-ft-" + b"A" * 43,
    b"Bearer sk-ft-" + b"A" * 10_000,
    b"Bearer " + "sk-ft-ÄÖÜ".encode("latin-1"),
    b"Bearer \xff\xfe\xfd",
    b"Bearer ../../etc/passwd",
    b"Bearer %2F%2E%2E",
    b"Bearer sk-ft-AAAA, Bearer sk-ft-BBBB",
    b"Bearer\tsk-ft-" + b"A" * 43,
    b"Basic " + b"A" * 64,
    b"=",
    b"Bearer ' OR '1'='1",
]


def _record(tally: HostileTally, response: httpx.Response) -> None:
    tally["cases"] += 1
    if response.status_code >= 500:
        tally["5xx"] += 1


@pytest.mark.parametrize("case", list(REFUSED), ids=str)
def test_a_hostile_request_is_a_clear_4xx(
    http: httpx.Client, stored: Stored, hostile_tally: HostileTally, case: str
) -> None:
    send, status = REFUSED[case]
    response = send(http)
    _record(hostile_tally, response)
    assert_openai_error(response, status)


@pytest.mark.parametrize("url", INTERNAL_WEBHOOK_URLS)
def test_an_internal_webhook_target_is_refused(
    http: httpx.Client, stored: Stored, hostile_tally: HostileTally, url: str
) -> None:
    response = http.post("/v1/webhook_endpoints", json={"url": url})
    _record(hostile_tally, response)
    assert assert_openai_error(response, 400)["param"] == "url"
    assert http.get("/v1/webhook_endpoints").json()["data"] == []


@pytest.mark.parametrize(
    "authorization", ODD_AUTHORIZATIONS, ids=lambda value: value[:24].decode("latin-1")
)
def test_an_odd_authorization_header_is_401(
    api: ApiServer, hostile_tally: HostileTally, authorization: bytes
) -> None:
    with raw_client(api) as anonymous:
        response = anonymous.get("/v1/files", headers={"Authorization": authorization})
    _record(hostile_tally, response)
    assert assert_openai_error(response, 401)["code"] == "invalid_api_key"


@pytest.mark.parametrize("path", ["/v1/files", "/v1/fine_tuning/jobs", "/v1/webhook_endpoints"])
@pytest.mark.parametrize("cursor", ["../../etc/passwd", "%2F..%2F", "x" * 10_000, "' OR 1=1 --"])
def test_a_hostile_cursor_pages_only_ones_own_objects(
    http: httpx.Client, stored: Stored, hostile_tally: HostileTally, path: str, cursor: str
) -> None:
    # An unknown cursor is no error in OpenAI's lists; it must never widen the view.
    response = http.get(path, params={"after": cursor})
    _record(hostile_tally, response)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert response.json()["object"] == "list"
    else:
        assert_openai_error(response, 400)


HOSTILE_FILENAMES = {
    "traversal": ("../../../../etc/passwd.jsonl", "passwd.jsonl"),
    "windows-traversal": ("..\\..\\windows\\win.ini.jsonl", "win.ini.jsonl"),
    "absolute": ("/etc/shadow.jsonl", "shadow.jsonl"),
    "control-characters": ("a\r\nb\x1b[31m\x7fc.jsonl", "ab[31mc.jsonl"),
    "bidi-override": ("evil\u202elsnoj.exe.jsonl", "evillsnoj.exe.jsonl"),
    "only-dots": ("..", "upload"),
    "very-long": ("x" * 1000 + ".jsonl", "x" * 249 + ".jsonl"),
}


@pytest.mark.parametrize("case", list(HOSTILE_FILENAMES))
def test_a_hostile_filename_is_kept_only_as_a_safe_display_name(
    api: ApiServer, http: httpx.Client, stored: Stored, hostile_tally: HostileTally, case: str
) -> None:
    raw, expected = HOSTILE_FILENAMES[case]
    response = http.post(
        "/v1/files",
        data={"purpose": "fine-tune"},
        files={"file": (raw, chat_jsonl(10), "application/jsonl")},
    )
    _record(hostile_tally, response)
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == expected
    blobs = api.config.data_dir / "blobs"
    stored_paths = [path for path in blobs.rglob("*") if path.is_file()]
    assert all(path.resolve().is_relative_to(blobs / "projects") for path in stored_paths)
    assert http.delete(f"/v1/files/{response.json()['id']}").status_code == 200


# Training files that upload fine but must fail validation with a message naming the problem.
BAD_TRAINING_FILES = {
    "invalid-utf8": (chat_jsonl(10) + b'{"messages": "\xff\xfe"}\n', "UTF-8"),
    "nul-byte": (chat_jsonl(10) + b"\x00\n", "line 11"),
    "deep-json-line": (deep(DEEP_NESTING) + b"\n" + chat_jsonl(10), "line 1"),
    "over-long-line": (
        b'{"messages": "' + b"x" * (2 * MAX_LINE_BYTES) + b'"}\n' + chat_jsonl(10),
        "line 1",
    ),
    "a-million-tiny-lines": (b"{}\n" * 1_000_000, "line 1"),
}


@pytest.mark.parametrize("case", list(BAD_TRAINING_FILES))
def test_a_hostile_training_file_is_refused_by_validation_in_bounded_time(
    http: httpx.Client, stored: Stored, hostile_tally: HostileTally, case: str
) -> None:
    body, names = BAD_TRAINING_FILES[case]
    started = time.monotonic()
    response = http.post(
        "/v1/files",
        data={"purpose": "fine-tune"},
        files={"file": ("bad.jsonl", body, "application/jsonl")},
    )
    _record(hostile_tally, response)
    if response.status_code != 200:  # refused at once: fine too, if clearly
        assert_openai_error(response, 400)
        return
    checked = wait_for_file(http, response.json()["id"], VALIDATION_BUDGET_S)
    assert checked["status"] == "error", checked
    assert names in checked["status_details"], checked["status_details"]
    assert time.monotonic() - started < VALIDATION_BUDGET_S
    job = http.post(
        "/v1/fine_tuning/jobs", json={"model": TINY_MODEL_ID, "training_file": checked["id"]}
    )
    _record(hostile_tally, job)
    if job.status_code != 200:
        assert_openai_error(job, 400)
        return
    # Accepted into validating_files: it must fail there, naming the file, and never train.
    deadline = time.monotonic() + VALIDATION_BUDGET_S
    while (current := http.get(f"/v1/fine_tuning/jobs/{job.json()['id']}").json())["status"] in (
        "validating_files",
    ):
        assert time.monotonic() < deadline, current
        time.sleep(0.2)
    assert current["status"] == "failed", current
    assert (
        checked["id"] in current["error"]["message"] or current["error"]["param"] == "training_file"
    )


def test_what_was_stored_before_is_intact_and_listed(http: httpx.Client, stored: Stored) -> None:
    # Declared last: runs after every hostile case of this module.
    assert http.get(f"/v1/files/{stored.file_id}").json()["status"] == "processed"
    assert http.get(f"/v1/files/{stored.file_id}/content").content == stored.content
    assert stored.file_id in [f["id"] for f in http.get("/v1/files").json()["data"]]
    job = http.get(f"/v1/fine_tuning/jobs/{stored.job_id}")
    assert job.status_code == 200, job.text
    assert stored.job_id in [j["id"] for j in http.get("/v1/fine_tuning/jobs").json()["data"]]
