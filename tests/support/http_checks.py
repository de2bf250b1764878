"""Raw-HTTP helpers for API tests: OpenAI error-envelope checks, clients, small uploads."""

from __future__ import annotations

import secrets
import ssl
import string
from typing import Any

import httpx

from tests.support.stack import ApiServer

# Words that would mean a framework, a library or a stack trace reached a caller.
LEAKED_INTERNALS = ("traceback", "litestar", "pydantic", "sqlalchemy")
TRAINING_LINE = (
    b'{"messages": [{"role": "user", "content": "hi"}, '
    b'{"role": "assistant", "content": "hello"}]}\n'
)
UPLOAD_BODY: dict[str, Any] = {
    "filename": "train.jsonl",
    "purpose": "fine-tune",
    "bytes": 3,
    "mime_type": "text/jsonl",
}


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Check status, envelope and headers of an error response; returns the inner ``error``."""
    assert response.status_code == status, response.text
    assert response.headers.get("x-request-id"), "every response carries x-request-id"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] is None or isinstance(error["param"], str)
    assert error["code"] is None or isinstance(error["code"], str)
    lowered = response.text.lower()
    for word in LEAKED_INTERNALS:
        assert word not in lowered, f"{word!r} leaked into {response.text}"
    return dict(error)


def random_id(prefix: str) -> str:
    """An id of the right shape that no object has."""
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(24))


# The api speaks plain HTTP; one shared context spares each client loading the CA bundle (~60 ms).
_UNUSED_TLS_CONTEXT = ssl.create_default_context()


def bearer(key: str) -> dict[str, str]:
    """The Authorization header for ``key``."""
    return {"Authorization": f"Bearer {key}"}


def raw_client(api: ApiServer, key: str | None = None) -> httpx.Client:
    """A plain httpx client for the api's root URL, with ``key`` as bearer token if given."""
    headers = {} if key is None else bearer(key)
    return httpx.Client(
        base_url=api.root_url, headers=headers, timeout=30, verify=_UNUSED_TLS_CONTEXT
    )


def upload_file(
    http: httpx.Client, body: bytes = TRAINING_LINE, name: str = "t.jsonl"
) -> dict[str, Any]:
    """Create a File through multipart and return its JSON object."""
    response = http.post(
        "/v1/files",
        data={"purpose": "fine-tune"},
        files={"file": (name, body, "application/jsonl")},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def listed_ids(http: httpx.Client, **params: str) -> list[str]:
    """Ids of the caller's files, one page of up to 10,000."""
    response = http.get("/v1/files", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]
