"""``client.evals.runs``: create (jsonl inline or from a file, completions), list, retrieve,
cancel, delete with the SDK in strict mode. No ctl worker runs here, so runs stay queued until
a test cancels them."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
from openai import NotFoundError, OpenAI

from tests.integration.evals.conftest import STRING_CHECK, custom_config, jsonl_rows
from tests.support.jobs import TINY_MODEL_ID


@pytest.fixture
def eval_id(client: OpenAI) -> str:
    """An eval whose criterion compares the sample with the item's answer."""
    return client.evals.create(
        name="qa",
        data_source_config=custom_config(),  # type: ignore[arg-type]
        testing_criteria=[STRING_CHECK],  # type: ignore[list-item]
    ).id


def inline_jsonl(n: int) -> dict[str, Any]:
    return {"type": "jsonl", "source": {"type": "file_content", "content": jsonl_rows(n)}}


COMPLETIONS: dict[str, Any] = {
    "type": "completions",
    "model": TINY_MODEL_ID,
    "source": {
        "type": "file_content",
        "content": [{"item": {"question": "2+2?", "answer": "4"}}],
    },
    "input_messages": {
        "type": "template",
        "template": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "{{item.question}}"},
        ],
    },
    "sampling_params": {"temperature": 0, "max_completion_tokens": 8, "seed": 7},
}


def test_a_jsonl_run_is_created_queued(client: OpenAI, eval_id: str) -> None:
    run = client.evals.runs.create(
        eval_id,
        name="baseline",
        metadata={"k": "v"},
        data_source=inline_jsonl(4),  # type: ignore[arg-type]
    )

    assert run.id.startswith("evalrun_")
    assert run.object == "eval.run"
    assert run.eval_id == eval_id
    assert run.status == "queued"
    assert run.name == "baseline"
    assert run.metadata == {"k": "v"}
    assert run.model == ""
    assert run.error.code == ""
    assert run.data_source.type == "jsonl"
    assert run.data_source.source.type == "file_content"  # type: ignore[union-attr]
    assert len(run.data_source.source.content) == 4  # type: ignore[union-attr]
    assert run.result_counts.model_dump() == {"total": 0, "passed": 0, "failed": 0, "errored": 0}
    assert run.per_model_usage == []
    assert run.per_testing_criteria_results == []
    assert eval_id in run.report_url
    assert client.evals.runs.retrieve(run.id, eval_id=eval_id).model_dump() == run.model_dump()


def test_a_completions_run_keeps_its_model_template_and_sampling(
    client: OpenAI, eval_id: str
) -> None:
    run = client.evals.runs.create(eval_id, data_source=COMPLETIONS)  # type: ignore[arg-type]

    assert run.model == TINY_MODEL_ID
    source = run.data_source
    assert source.type == "completions"
    assert source.model == TINY_MODEL_ID  # type: ignore[union-attr]
    assert source.sampling_params is not None  # type: ignore[union-attr]
    assert source.sampling_params.max_completion_tokens == 8  # type: ignore[union-attr]
    template = source.input_messages.template  # type: ignore[union-attr]
    assert [message.content for message in template] == ["Answer briefly.", "{{item.question}}"]
    assert run.name == run.id


@pytest.mark.parametrize("purpose", ["evals", "user_data"])
def test_a_jsonl_run_reads_a_file_the_project_owns(
    client: OpenAI, eval_id: str, purpose: str
) -> None:
    body = "".join(json.dumps(row) + "\n" for row in jsonl_rows(3)).encode()
    file = client.files.create(file=("rows.jsonl", io.BytesIO(body)), purpose=purpose)  # type: ignore[arg-type]
    assert file.purpose == "user_data"  # evals files are stored as user_data (strict SDK)
    listed = client.files.list(purpose=purpose)
    assert file.id in [entry.id for entry in listed.data]

    run = client.evals.runs.create(
        eval_id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": file.id}}
    )

    assert run.data_source.source.type == "file_id"  # type: ignore[union-attr]
    assert run.data_source.source.id == file.id  # type: ignore[union-attr]
    assert run.status == "queued"


def test_list_filters_by_status_and_orders(client: OpenAI, eval_id: str) -> None:
    ids = [client.evals.runs.create(eval_id, data_source=inline_jsonl(1)).id for _ in range(3)]  # type: ignore[arg-type]
    client.evals.runs.cancel(ids[1], eval_id=eval_id)

    assert [run.id for run in client.evals.runs.list(eval_id)] == ids
    assert [run.id for run in client.evals.runs.list(eval_id, order="desc")] == ids[::-1]
    queued = client.evals.runs.list(eval_id, status="queued")
    assert [run.id for run in queued] == [ids[0], ids[2]]
    canceled = client.evals.runs.list(eval_id, status="canceled")
    assert [run.id for run in canceled.data] == [ids[1]]
    page = client.evals.runs.list(eval_id, limit=1, after=ids[0], status="queued")
    assert [run.id for run in page.data] == [ids[2]]
    assert page.has_more is False


def test_cancel_stops_a_queued_run_on_both_paths(
    client: OpenAI, eval_id: str, http: httpx.Client
) -> None:
    first = client.evals.runs.create(eval_id, data_source=inline_jsonl(2))  # type: ignore[arg-type]
    second = client.evals.runs.create(eval_id, data_source=inline_jsonl(2))  # type: ignore[arg-type]

    canceled = client.evals.runs.cancel(first.id, eval_id=eval_id)  # POST …/runs/{id}/cancel
    assert canceled.status == "canceled"
    again = client.evals.runs.cancel(first.id, eval_id=eval_id)
    assert again.status == "canceled"
    documented = http.post(f"/v1/evals/{eval_id}/runs/{second.id}")  # OpenAI's documented path
    assert documented.status_code == 200, documented.text
    assert documented.json()["status"] == "canceled"
    assert client.evals.runs.retrieve(second.id, eval_id=eval_id).status == "canceled"


def test_delete_removes_the_run(client: OpenAI, eval_id: str) -> None:
    run = client.evals.runs.create(eval_id, data_source=inline_jsonl(1))  # type: ignore[arg-type]

    deleted = client.evals.runs.delete(run.id, eval_id=eval_id)

    assert deleted.deleted is True
    assert deleted.run_id == run.id
    assert deleted.object == "eval.run.deleted"
    with pytest.raises(NotFoundError):
        client.evals.runs.retrieve(run.id, eval_id=eval_id)
    with pytest.raises(NotFoundError):
        client.evals.runs.cancel(run.id, eval_id=eval_id)
    with pytest.raises(NotFoundError):
        client.evals.runs.delete(run.id, eval_id=eval_id)


def test_a_run_is_found_only_under_its_own_eval(client: OpenAI, eval_id: str) -> None:
    other = client.evals.create(
        data_source_config=custom_config(),  # type: ignore[arg-type]
        testing_criteria=[STRING_CHECK],  # type: ignore[list-item]
    ).id
    run = client.evals.runs.create(eval_id, data_source=inline_jsonl(1))  # type: ignore[arg-type]

    with pytest.raises(NotFoundError):
        client.evals.runs.retrieve(run.id, eval_id=other)
    with pytest.raises(NotFoundError):
        client.evals.runs.delete(run.id, eval_id=other)
    assert client.evals.runs.list(other).data == []
