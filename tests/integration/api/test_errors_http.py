"""Every error on /v1 over raw HTTP: exact status, OpenAI's envelope, a request id, no internals.

Runs on all four backend combinations.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cli.keys import project_store
from service.settings import Settings
from tests.support.http_checks import (
    TRAINING_LINE,
    UPLOAD_BODY,
    assert_openai_error,
    bearer,
    listed_ids,
    random_id,
    raw_client,
    upload_file,
)
from tests.support.stack import ApiServer


async def _revoke(settings: Settings, plaintext: str) -> None:
    async with project_store(settings) as store:
        caller = await store.authenticate(plaintext, last_used_resolution_s=0)
        assert caller is not None
        assert await store.revoke_key(caller.api_key_id) is not None


def revoke_key(api: ApiServer, plaintext: str) -> None:
    """Revoke a key in the stack's database, as ``ftapi keys revoke`` does."""
    asyncio.run(_revoke(api.config.settings(), plaintext))


@pytest.fixture
def anonymous(api: ApiServer) -> Iterator[httpx.Client]:
    """A raw HTTP client without credentials."""
    with raw_client(api) as http:
        yield http


@pytest.fixture(scope="module")
def module_key(api: ApiServer) -> str:
    """One project's key for this module's tests (issuing one per test costs a migration check).

    Tests that look at the project's files compare before and after, so they hold whatever the
    other tests left there.
    """
    return api.new_key("errors-http")


@pytest.fixture
def http(api: ApiServer, module_key: str) -> Iterator[httpx.Client]:
    """A raw HTTP client with a valid key."""
    with raw_client(api, module_key) as http:
        yield http


# --- 401 ---------------------------------------------------------------------------------------

WELL_FORMED_UNKNOWN_KEY = "sk-ft-" + "A" * 43

BAD_AUTHORIZATIONS = {
    "missing": None,
    "basic-scheme": "Basic dXNlcjpwYXNzd29yZA==",
    "token-scheme": f"Token {WELL_FORMED_UNKNOWN_KEY}",
    "bearer-without-token": "Bearer",
    "malformed-key": "Bearer not-a-key",
    "truncated-key": f"Bearer {WELL_FORMED_UNKNOWN_KEY[:-1]}",
    "key-with-punctuation": f"Bearer {WELL_FORMED_UNKNOWN_KEY[:-1]}!",
    "unknown-well-formed-key": f"Bearer {WELL_FORMED_UNKNOWN_KEY}",
}

ROUTES = [
    ("GET", "/v1/files"),
    ("POST", "/v1/files"),
    ("GET", "/v1/files/file-abc"),
    ("GET", "/v1/files/file-abc/content"),
    ("DELETE", "/v1/files/file-abc"),
    ("POST", "/v1/uploads"),
    ("POST", "/v1/uploads/upload_abc/parts"),
    ("POST", "/v1/uploads/upload_abc/complete"),
    ("POST", "/v1/uploads/upload_abc/cancel"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "authorization", BAD_AUTHORIZATIONS.values(), ids=BAD_AUTHORIZATIONS.keys()
)
def test_bad_credentials_are_401_invalid_api_key(
    anonymous: httpx.Client, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    error = assert_openai_error(anonymous.request(method, path, headers=headers), 401)

    assert error["code"] == "invalid_api_key"
    assert error["param"] is None


def test_an_unknown_key_is_echoed_only_redacted(anonymous: httpx.Client) -> None:
    secret = "sk-ft-" + "".join(secrets.choice(string.ascii_letters) for _ in range(43))

    error = assert_openai_error(anonymous.get("/v1/files", headers=bearer(secret)), 401)

    assert "Incorrect API key provided" in error["message"]
    assert secret[6:-4] not in error["message"]


def test_a_revoked_key_is_401_and_other_keys_of_the_project_still_work(
    api: ApiServer, anonymous: httpx.Client
) -> None:
    revoked, kept = api.new_key("p-revocation"), api.new_key("p-revocation")
    assert anonymous.get("/v1/files", headers=bearer(revoked)).status_code == 200

    revoke_key(api, revoked)

    error = assert_openai_error(anonymous.get("/v1/files", headers=bearer(revoked)), 401)
    assert error["code"] == "invalid_api_key"
    assert anonymous.get("/v1/files", headers=bearer(kept)).status_code == 200


@pytest.mark.parametrize(
    ("path", "headers", "content"),
    [
        pytest.param(
            "/v1/uploads", {"Content-Type": "application/json"}, b"{not json", id="bad-json"
        ),
        pytest.param(
            "/v1/uploads",
            {"Content-Type": "application/json"},
            json.dumps(UPLOAD_BODY | {"color": "red"}).encode(),
            id="unknown-field",
        ),
        pytest.param(
            "/v1/uploads",
            {"Content-Type": "application/json"},
            b" " * (2 << 20),
            id="over-the-json-limit",
        ),
        pytest.param(
            "/v1/files", {"Content-Type": "text/plain"}, b"not multipart", id="not-multipart"
        ),
        pytest.param(
            "/v1/uploads/upload_abc/complete",
            {"Content-Type": "application/json"},
            b"[]",
            id="wrong-json-type",
        ),
    ],
)
@pytest.mark.parametrize(
    "authorization", [None, f"Bearer {WELL_FORMED_UNKNOWN_KEY}"], ids=["no-key", "unknown-key"]
)
def test_authentication_comes_before_body_validation(
    anonymous: httpx.Client,
    path: str,
    headers: dict[str, str],
    content: bytes,
    authorization: str | None,
) -> None:
    if authorization is not None:
        headers = headers | {"Authorization": authorization}

    error = assert_openai_error(anonymous.post(path, headers=headers, content=content), 401)

    assert error["code"] == "invalid_api_key"


# --- 404 and 405 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/files/{id}"), ("GET", "/v1/files/{id}/content"), ("DELETE", "/v1/files/{id}")],
)
def test_a_missing_file_is_404_no_such_file_object(
    http: httpx.Client, method: str, path: str
) -> None:
    file_id = random_id("file-")

    error = assert_openai_error(http.request(method, path.format(id=file_id)), 404)

    assert error["message"] == f"No such File object: {file_id}"
    assert error["param"] == "id"
    assert error["code"] is None


def test_a_deleted_file_is_404_everywhere(http: httpx.Client) -> None:
    created = upload_file(http)
    assert http.delete(f"/v1/files/{created['id']}").status_code == 200

    for method, path in [
        ("GET", "/v1/files/{id}"),
        ("GET", "/v1/files/{id}/content"),
        ("DELETE", "/v1/files/{id}"),
    ]:
        error = assert_openai_error(http.request(method, path.format(id=created["id"])), 404)
        assert error["message"] == f"No such File object: {created['id']}"


def _upload_call(http: httpx.Client, action: str, upload_id: str) -> httpx.Response:
    """One of the per-upload routes, sent the way the SDK sends it."""
    if action == "parts":
        return http.post(f"/v1/uploads/{upload_id}/parts", files={"data": ("blob", b"abc")})
    if action == "complete":
        return http.post(f"/v1/uploads/{upload_id}/complete", json={"part_ids": []})
    return http.post(
        f"/v1/uploads/{upload_id}/cancel", headers={"Content-Type": "application/json"}, content=b""
    )


@pytest.mark.parametrize("action", ["parts", "complete", "cancel"])
def test_a_missing_upload_is_404_no_such_upload_object(http: httpx.Client, action: str) -> None:
    upload_id = random_id("upload_")

    error = assert_openai_error(_upload_call(http, action, upload_id), 404)

    assert error["message"] == f"No such Upload object: {upload_id}"


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/files/a/b/c", "/nope", "/v1"])
@pytest.mark.parametrize("authenticated", [True, False], ids=["key", "no-key"])
def test_an_unknown_route_is_a_404_envelope(
    http: httpx.Client, anonymous: httpx.Client, path: str, authenticated: bool
) -> None:
    response = (http if authenticated else anonymous).get(path)

    error = assert_openai_error(response, 404)

    assert path in error["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/files"),
        ("DELETE", "/v1/files"),
        ("PATCH", "/v1/files/file-abc"),
        ("POST", "/v1/files/file-abc"),
        ("GET", "/v1/uploads"),
        ("GET", "/v1/uploads/upload_abc/complete"),
        ("DELETE", "/v1/uploads/upload_abc/cancel"),
    ],
)
def test_a_wrong_method_is_405(http: httpx.Client, method: str, path: str) -> None:
    error = assert_openai_error(http.request(method, path), 405)

    assert method in error["message"]


# --- 400: query parameters and JSON bodies -------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("order=sideways", "order"),
        ("order=", "order"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(
    http: httpx.Client, query: str, param: str
) -> None:
    error = assert_openai_error(http.get(f"/v1/files?{query}"), 400)

    assert error["param"] == param
    assert param in error["message"]


@pytest.mark.parametrize(
    "query", ["limit=1", "limit=10000", "order=asc", "order=desc", "after=file-unknown"]
)
def test_list_parameters_at_their_bounds_are_accepted(http: httpx.Client, query: str) -> None:
    response = http.get(f"/v1/files?{query}")

    assert response.status_code == 200, response.text
    assert response.json()["object"] == "list"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param(UPLOAD_BODY | {"color": "red"}, "color", id="unknown-top-level-field"),
        pytest.param(
            UPLOAD_BODY | {"expires_after": {"anchor": "created_at", "seconds": 7200, "when": 1}},
            "expires_after.when",
            id="unknown-nested-field",
        ),
        pytest.param(
            {k: v for k, v in UPLOAD_BODY.items() if k != "purpose"}, "purpose", id="missing-field"
        ),
        pytest.param(UPLOAD_BODY | {"bytes": "three"}, "bytes", id="wrong-type"),
        pytest.param(UPLOAD_BODY | {"bytes": -1}, "bytes", id="negative-size"),
        pytest.param(UPLOAD_BODY | {"bytes": 10**30}, "bytes", id="huge-size"),
        pytest.param(UPLOAD_BODY | {"purpose": "nonsense"}, "purpose", id="unknown-purpose"),
        pytest.param(UPLOAD_BODY | {"filename": "train.csv"}, "file", id="fine-tune-not-jsonl"),
        pytest.param(
            UPLOAD_BODY | {"expires_after": {"anchor": "created_at", "seconds": 60}},
            "expires_after.seconds",
            id="expiry-too-short",
        ),
    ],
)
def test_a_bad_upload_body_is_400_naming_the_field(
    http: httpx.Client, body: dict[str, Any], param: str
) -> None:
    error = assert_openai_error(http.post("/v1/uploads", json=body), 400)

    assert error["param"] == param
    assert param.rsplit(".", 1)[-1] in error["message"] or param == "file"


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        pytest.param("application/json", b"{not json", id="malformed"),
        pytest.param("application/json", b'{"filename": ', id="truncated"),
        pytest.param("application/json", b"", id="empty"),
        pytest.param("application/json", b"[1, 2]", id="array"),
        pytest.param("application/json", b"null", id="null"),
        pytest.param("application/json", b"\xff\xfe{}", id="not-utf8"),
        pytest.param("text/plain", b"filename=x", id="not-json"),
    ],
)
def test_an_unparseable_json_body_is_400(
    http: httpx.Client, content_type: str, content: bytes
) -> None:
    response = http.post("/v1/uploads", headers={"Content-Type": content_type}, content=content)

    assert_openai_error(response, 400)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"part_ids": "part_abc"}, "part_ids"),
        ({}, "part_ids"),
        ({"part_ids": [], "md5": "not-an-md5"}, "md5"),
        ({"part_ids": [], "extra": True}, "extra"),
    ],
)
def test_a_bad_complete_body_is_400_naming_the_field(
    http: httpx.Client, body: dict[str, Any], param: str
) -> None:
    upload = http.post("/v1/uploads", json=UPLOAD_BODY).json()

    error = assert_openai_error(http.post(f"/v1/uploads/{upload['id']}/complete", json=body), 400)

    assert error["param"] == param


# --- 400/415: multipart bodies --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers", "content"),
    [
        pytest.param(
            "/v1/files",
            {"Content-Type": "application/json"},
            b'{"purpose": "fine-tune"}',
            id="files-json",
        ),
        pytest.param("/v1/files", {"Content-Type": "text/plain"}, TRAINING_LINE, id="files-text"),
        pytest.param("/v1/files", {}, TRAINING_LINE, id="files-no-content-type"),
        pytest.param(
            "/v1/files",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"purpose=fine-tune",
            id="files-urlencoded",
        ),
        pytest.param(
            "/v1/uploads/{upload_id}/parts",
            {"Content-Type": "application/json"},
            b"{}",
            id="parts-json",
        ),
    ],
)
def test_a_non_multipart_body_is_refused(
    http: httpx.Client, path: str, headers: dict[str, str], content: bytes
) -> None:
    upload = http.post("/v1/uploads", json=UPLOAD_BODY).json()

    response = http.post(path.format(upload_id=upload["id"]), headers=headers, content=content)

    assert response.status_code in {400, 415}
    error = assert_openai_error(response, response.status_code)
    assert error["param"] == "Content-Type"


MULTIPART = {"Content-Type": "multipart/form-data; boundary=xyz"}
FILE_PART_HEAD = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="t.jsonl"\r\n\r\n'
PURPOSE_PART_HEAD = b'--xyz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        pytest.param({"files": {"purpose": (None, "fine-tune")}}, "file", id="no-file"),
        pytest.param({"files": {"file": ("t.jsonl", TRAINING_LINE)}}, "purpose", id="no-purpose"),
        pytest.param(
            {"data": {"purpose": ""}, "files": {"file": ("t.jsonl", TRAINING_LINE)}},
            "purpose",
            id="empty-purpose",
        ),
        pytest.param(
            {"data": {"purpose": "nonsense"}, "files": {"file": ("t.jsonl", TRAINING_LINE)}},
            "purpose",
            id="unknown-purpose",
        ),
        pytest.param(
            {"data": {"purpose": "fine-tune"}, "files": {"file": ("t.csv", TRAINING_LINE)}},
            "file",
            id="fine-tune-not-jsonl",
        ),
        pytest.param(
            {"data": {"purpose": "fine-tune"}, "files": {"document": ("t.jsonl", TRAINING_LINE)}},
            "document",
            id="file-under-another-name",
        ),
        pytest.param(
            {
                "data": {"purpose": "fine-tune"},
                "files": [
                    ("file", ("a.jsonl", TRAINING_LINE)),
                    ("file", ("b.jsonl", TRAINING_LINE)),
                ],
            },
            "file",
            id="two-files",
        ),
        pytest.param(
            {
                "data": {
                    "purpose": "fine-tune",
                    "expires_after[anchor]": "created_at",
                    "expires_after[seconds]": "soon",
                },
                "files": {"file": ("t.jsonl", TRAINING_LINE)},
            },
            "expires_after.seconds",
            id="bad-expiry",
        ),
        pytest.param(
            {"headers": {"Content-Type": "multipart/form-data"}, "content": b"--x--\r\n"},
            "Content-Type",
            id="no-boundary",
        ),
        pytest.param(
            {"headers": MULTIPART, "content": b"this is not multipart"}, None, id="garbage"
        ),
        pytest.param({"headers": MULTIPART, "content": b""}, None, id="empty"),
        pytest.param(
            {"headers": MULTIPART, "content": FILE_PART_HEAD + TRAINING_LINE},
            None,
            id="truncated",
        ),
        pytest.param(
            {"headers": MULTIPART, "content": b"--xyz\r\nX-Nothing: 1\r\n\r\nabc\r\n--xyz--\r\n"},
            None,
            id="part-without-content-disposition",
        ),
        pytest.param(
            {"headers": MULTIPART, "content": PURPOSE_PART_HEAD + b"\xff\xfe\r\n--xyz--\r\n"},
            "purpose",
            id="purpose-not-utf8",
        ),
    ],
)
def test_a_bad_file_form_is_400_and_stores_nothing(
    http: httpx.Client, kwargs: dict[str, Any], param: str | None
) -> None:
    before = listed_ids(http)

    error = assert_openai_error(http.post("/v1/files", **kwargs), 400)

    assert error["param"] == param
    assert listed_ids(http) == before


def test_a_part_form_without_data_is_400(http: httpx.Client) -> None:
    upload = http.post("/v1/uploads", json=UPLOAD_BODY).json()

    response = http.post(f"/v1/uploads/{upload['id']}/parts", files={"file": ("blob", b"abc")})

    assert assert_openai_error(response, 400)["param"] == "data"


# --- what the SDK sends must work -----------------------------------------------------------------


def test_cancel_with_an_empty_json_body_works(http: httpx.Client) -> None:
    upload = http.post("/v1/uploads", json=UPLOAD_BODY).json()

    response = _upload_call(http, "cancel", upload["id"])

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.headers["x-request-id"]
    again = assert_openai_error(_upload_call(http, "cancel", upload["id"]), 400)
    assert again["code"] == "upload_cancelled"


def test_complete_with_an_empty_json_body_is_400(http: httpx.Client) -> None:
    upload = http.post("/v1/uploads", json=UPLOAD_BODY).json()

    response = http.post(
        f"/v1/uploads/{upload['id']}/complete",
        headers={"Content-Type": "application/json"},
        content=b"",
    )

    assert_openai_error(response, 400)


# --- x-request-id ---------------------------------------------------------------------------------


def test_every_response_carries_its_own_request_id(
    http: httpx.Client, anonymous: httpx.Client
) -> None:
    responses = [
        http.get("/v1/files"),
        http.get(f"/v1/files/{random_id('file-')}"),
        http.put("/v1/files"),
        http.get("/v1/files?limit=0"),
        anonymous.get("/v1/files"),
        anonymous.get("/nope"),
        anonymous.get("/healthz"),
    ]

    ids = [response.headers.get("x-request-id") for response in responses]
    assert all(ids), ids
    assert len(set(ids)) == len(ids)


def test_a_sane_incoming_request_id_is_echoed_and_an_odd_one_replaced(http: httpx.Client) -> None:
    echoed = http.get("/v1/files", headers={"x-request-id": "client-req-0001"})
    echoed_error = http.get("/v1/files?limit=0", headers={"x-request-id": "client-req-0002"})
    replaced = http.get("/v1/files", headers={"x-request-id": "bad id with spaces"})

    assert echoed.headers["x-request-id"] == "client-req-0001"
    assert echoed_error.headers["x-request-id"] == "client-req-0002"
    assert replaced.headers["x-request-id"] != "bad id with spaces"
    assert replaced.headers["x-request-id"]
