"""Fuzzed training files through the live api: upload, validation, report, preview, estimate.

Whatever the file holds (hand-written JSON from ``tests.support.json_fuzz``: huge numbers, lone
surrogates, duplicate keys, deep or huge containers, broken examples of every format), no
answer is a 500: the file ends ``processed`` or ``error``, and the estimate, the report and the
preview of its first line answer 200 or a 4xx in OpenAI's envelope.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.support.dataset_examples import examples, valid_chat, valid_preference
from tests.support.http_checks import raw_client, upload_file
from tests.support.jobs import TINY_MODEL_ID
from tests.support.json_fuzz import (
    fuzz_budget,
    long_hunt,
    spliced,
    to_json,
    valid_with_odd_values,
)
from tests.support.stack import ApiServer

# Each example uploads a file and waits for its validation: about a second.
SUITE_FILES = 12
SLOW_FILES = 300
_PROCESSING_TIMEOUT_S = 30

# Mostly valid lines and at most one broken one, so that many files pass validation and the
# estimate tokenizes them; the others exercise the answers for a file in error.
valid_lines = st.one_of(
    valid_with_odd_values().map(to_json), valid_chat.map(to_json), valid_preference.map(to_json)
)
broken_lines = spliced(valid_chat | valid_preference).map(to_json) | spliced(examples).map(to_json)
files = st.builds(
    lambda good, bad: b"\n".join(good + bad),
    st.lists(valid_lines, min_size=1, max_size=12),
    st.lists(broken_lines, max_size=1),
)
methods = st.sampled_from(["supervised", "dpo"])


@pytest.fixture(scope="module")
def http(fuzz_api: ApiServer) -> Iterator[httpx.Client]:
    with raw_client(fuzz_api, fuzz_api.new_key("fuzz-estimate")) as client:
        yield client


def _processed(http: httpx.Client, file_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + _PROCESSING_TIMEOUT_S
    while time.monotonic() < deadline:
        record = http.get(f"/v1/files/{file_id}").json()
        if record["status"] != "uploaded":
            return dict(record)
        time.sleep(0.05)
    raise AssertionError(f"file {file_id} still uploaded after {_PROCESSING_TIMEOUT_S} s")


def _not_a_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert "error" in response.json()


def _estimate_never_fails(http: httpx.Client, data: bytes, method: str) -> None:
    file_id = upload_file(http, data)["id"]
    record = _processed(http, file_id)
    event(f"file {record['status']}")  # --hypothesis-show-statistics: how many got past validation

    estimate = http.post(
        "/v1/fine_tuning/estimate",
        json={"model": TINY_MODEL_ID, "training_file": file_id, "method": {"type": method}},
    )
    report = http.get(f"/v1/files/{file_id}/report", params={"model": TINY_MODEL_ID})
    preview = http.get(f"/v1/files/{file_id}/preview", params={"model": TINY_MODEL_ID, "line": 1})

    assert record["status"] in ("processed", "error")
    assert estimate.status_code == 200, estimate.text
    assert estimate.json()["ok"] is (not estimate.json()["problems"])
    _not_a_server_error(report)
    _not_a_server_error(preview)


test_estimate_never_fails = fuzz_budget(SUITE_FILES)(
    given(data=files, method=methods)(_estimate_never_fails)
)
test_estimate_never_fails_long = long_hunt(
    given(data=files, method=methods)(_estimate_never_fails), SLOW_FILES
)
