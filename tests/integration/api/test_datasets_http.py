"""Dataset report, mask preview and job estimate over raw HTTP, with the tiny model registered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.support.http_checks import assert_openai_error, raw_client
from tests.support.jobs import TINY_MODEL_ID
from tests.support.stack import ApiServer


def _chat(i: int, *, user: str | None = None) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": user or f"question {i}"},
            {"role": "assistant", "content": f"answer {i}"},
        ]
    }


def _jsonl(examples: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(example).encode() + b"\n" for example in examples)


def _upload(client: OpenAI, body: bytes, name: str = "train.jsonl") -> str:
    created = client.files.create(file=(name, body), purpose="fine-tune")
    client.files.wait_for_processing(created.id, poll_interval=0.1, max_wait_seconds=30)
    return created.id


@pytest.fixture
def http(api: ApiServer, api_key: str) -> Iterator[httpx.Client]:
    with raw_client(api, api_key) as client:
        yield client


def test_report_counts_examples_and_tokens(client: OpenAI, http: httpx.Client) -> None:
    file_id = _upload(client, _jsonl([_chat(i) for i in range(12)]))

    response = http.get(f"/v1/files/{file_id}/report", params={"model": TINY_MODEL_ID})

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["object"] == "fine_tuning.dataset_report"
    assert report["format"] == "chat"
    assert report["n_examples"] == report["n_trainable_examples"] == 12
    tokens = report["tokens"]
    assert 0 < tokens["trained"] < tokens["total"]
    spread = tokens["per_example"]
    assert spread["min"] <= spread["p50"] <= spread["p95"] <= spread["max"]
    histogram = tokens["histogram"]
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1 <= 21
    assert histogram["edges"][0] == 0
    assert histogram["edges"][-1] >= report["max_seq_length"]
    assert sum(histogram["counts"]) == 12
    assert report["issues"] == []
    again = http.get(f"/v1/files/{file_id}/report", params={"model": TINY_MODEL_ID})
    assert again.json() == report


def test_report_for_an_unknown_model_is_400(client: OpenAI, http: httpx.Client) -> None:
    file_id = _upload(client, _jsonl([_chat(i) for i in range(10)]))
    response = http.get(f"/v1/files/{file_id}/report", params={"model": "nope/nope"})
    assert assert_openai_error(response, 400)["param"] == "model"


def test_report_of_another_projects_file_is_404(
    client: OpenAI, api: ApiServer, http: httpx.Client
) -> None:
    file_id = _upload(client, _jsonl([_chat(i) for i in range(10)]))
    with raw_client(api, api.new_key("someone-else")) as stranger:
        for path in (f"/v1/files/{file_id}/report", f"/v1/files/{file_id}/preview"):
            response = stranger.get(path, params={"model": TINY_MODEL_ID})
            assert_openai_error(response, 404)


def test_report_of_a_non_training_file_is_400(client: OpenAI, http: httpx.Client) -> None:
    other = client.files.create(file=("x.jsonl", b"{}\n"), purpose="batch")
    response = http.get(f"/v1/files/{other.id}/report", params={"model": TINY_MODEL_ID})
    assert assert_openai_error(response, 400)["code"] == "invalid_file_purpose"


def test_preview_marks_exactly_the_assistant_turn(client: OpenAI, http: httpx.Client) -> None:
    file_id = _upload(client, _jsonl([_chat(i) for i in range(10)]))

    response = http.get(f"/v1/files/{file_id}/preview", params={"model": TINY_MODEL_ID, "line": 3})

    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["line"] == 3
    assert preview["format"] == "chat"
    (sequence,) = preview["sequences"]
    trained_text = "".join(t["text"] for t in sequence["tokens"] if t["trained"])
    assert trained_text == "answer 2<|im_end|>"
    assert "⟦answer 2<|im_end|>⟧" in sequence["marked_text"]
    assert "question 2" in sequence["marked_text"]


def test_preview_of_a_missing_or_bad_line_is_400(client: OpenAI, http: httpx.Client) -> None:
    lines = [_chat(i) for i in range(10)]
    body = _jsonl(lines) + b'{"messages": [{"role": "wizard", "content": "x"}]}\n'
    created = client.files.create(file=("t.jsonl", body), purpose="fine-tune")

    beyond = http.get(
        f"/v1/files/{created.id}/preview", params={"model": TINY_MODEL_ID, "line": 99}
    )
    broken = http.get(
        f"/v1/files/{created.id}/preview", params={"model": TINY_MODEL_ID, "line": 11}
    )

    assert assert_openai_error(beyond, 400)["param"] == "line"
    error = assert_openai_error(broken, 400)
    assert error["param"] == "line"
    assert error["code"] == "unrecognized_role"


def _estimate(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/v1/fine_tuning/estimate", json={"model": TINY_MODEL_ID, **body})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_estimate_resolves_auto_hyperparameters_and_tokens(
    client: OpenAI, http: httpx.Client
) -> None:
    file_id = _upload(client, _jsonl([_chat(i) for i in range(12)]))

    estimate = _estimate(http, training_file=file_id)

    assert estimate["ok"] is True
    assert estimate["problems"] == []
    # 12 examples x 3 epochs < 100 example passes, so auto picks 100 // 12 = 8 epochs.
    assert estimate["hyperparameters"] == {
        "n_epochs": 8,
        "batch_size": 1,
        "learning_rate_multiplier": 1.0,
        "beta": None,
        "learning_rate": None,  # the tiny model's registry entry sets no rate of its own
    }
    total = estimate["training_report"]["tokens"]["total"]
    assert estimate["estimated_trained_tokens"] == total * 8
    assert estimate["estimated_duration_seconds"] > 0


def test_estimate_honours_explicit_hyperparameters(client: OpenAI, http: httpx.Client) -> None:
    file_id = _upload(client, _jsonl([_chat(i) for i in range(12)]))
    estimate = _estimate(
        http,
        training_file=file_id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
    )
    assert estimate["hyperparameters"]["n_epochs"] == 2


def test_estimate_lists_every_problem(client: OpenAI, http: httpx.Client) -> None:
    nine = _upload(client, _jsonl([_chat(i) for i in range(9)]))

    dpo = _estimate(http, training_file=nine, method={"type": "dpo"})
    missing = _estimate(http, training_file="file-doesnotexist", validation_file=nine)
    rft = _estimate(http, training_file=nine, method={"type": "reinforcement"})
    unknown_model = http.post(
        "/v1/fine_tuning/estimate", json={"model": "nope/nope", "training_file": nine}
    ).json()

    assert dpo["ok"] is False
    assert {(p["code"], p["param"]) for p in dpo["problems"]} == {
        ("invalid_training_file", "training_file"),
    }
    assert "preference" in dpo["problems"][0]["message"]
    assert {(p["code"], p["param"]) for p in missing["problems"]} == {
        ("invalid_training_file", "training_file"),
    }
    assert [p["code"] for p in rft["problems"]] == ["unsupported_method"]
    assert {(p["code"], p["param"]) for p in unknown_model["problems"]} == {
        ("model_not_available", "model"),
        ("invalid_n_examples", "training_file"),
    }


def test_estimate_reports_special_tokens_in_user_text(client: OpenAI, http: httpx.Client) -> None:
    examples = [_chat(i) for i in range(12)]
    examples[4] = _chat(4, user="please ignore <|im_end|> this")
    file_id = _upload(client, _jsonl(examples))

    estimate = _estimate(http, training_file=file_id)

    assert estimate["ok"] is False
    (problem,) = estimate["problems"]
    assert problem["param"] == "training_file"
    assert "line 5" in problem["message"]
    report = estimate["training_report"]
    assert report["issue_counts"] == {"special_token_in_text": 1}
    assert report["issues"][0]["line"] == 5


def test_estimate_rejects_a_malformed_body(http: httpx.Client) -> None:
    response = http.post(
        "/v1/fine_tuning/estimate", json={"model": TINY_MODEL_ID, "training_file": "f", "x": 1}
    )
    assert assert_openai_error(response, 400)["param"] == "x"
