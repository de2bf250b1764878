"""``client.evals.runs.output_items``: list (status filter, order, cursor) and retrieve with
the SDK in strict mode, over items stored the way the runner stores them."""

from __future__ import annotations

import pytest
from openai import NotFoundError, OpenAI

from service.evals.records import OutputItemStatus
from tests.integration.evals.conftest import (
    STRING_CHECK,
    custom_config,
    jsonl_rows,
    project_of,
    seed_output_items,
)
from tests.support.stack import ApiServer

PASS, FAIL, ERROR = OutputItemStatus.PASS, OutputItemStatus.FAIL, OutputItemStatus.ERROR


def new_run(client: OpenAI) -> tuple[str, str]:
    eval_id = client.evals.create(
        data_source_config=custom_config(),  # type: ignore[arg-type]
        testing_criteria=[STRING_CHECK],  # type: ignore[list-item]
    ).id
    run = client.evals.runs.create(
        eval_id,
        data_source={"type": "jsonl", "source": {"type": "file_content", "content": jsonl_rows(4)}},
    )
    return eval_id, run.id


def test_items_list_and_filter_by_status(
    client: OpenAI, evals_api: ApiServer, api_key: str
) -> None:
    eval_id, run_id = new_run(client)
    project = project_of(evals_api, api_key)
    ids = seed_output_items(
        evals_api, project_run=(project, eval_id, run_id), statuses=[PASS, FAIL, PASS, ERROR]
    )

    listed = client.evals.runs.output_items.list(run_id, eval_id=eval_id)
    assert [item.id for item in listed.data] == ids
    first = listed.data[0]
    assert first.object == "eval.run.output_item"
    assert first.status == "pass"
    assert first.datasource_item_id == 0
    assert first.datasource_item == {"question": "q0", "answer": "a0"}
    assert first.sample.output[0].content == "a0"
    assert first.sample.error.code == ""
    assert first.results[0].name == "exact"
    assert first.results[0].passed is True
    assert first.results[0].model_extra is not None
    assert first.results[0].model_extra["sub_rewards"] == {}
    passed = client.evals.runs.output_items.list(run_id, eval_id=eval_id, status="pass")
    assert [item.id for item in passed.data] == [ids[0], ids[2]]
    failed = client.evals.runs.output_items.list(run_id, eval_id=eval_id, status="fail")
    assert [item.id for item in failed.data] == [ids[1]]
    newest = client.evals.runs.output_items.list(run_id, eval_id=eval_id, order="desc", limit=2)
    assert [item.id for item in newest.data] == [ids[3], ids[2]]
    assert newest.has_more is True
    after = client.evals.runs.output_items.list(
        run_id, eval_id=eval_id, after=ids[0], status="pass"
    )
    assert [item.id for item in after.data] == [ids[2]]
    assert [
        item.id for item in client.evals.runs.output_items.list(run_id, eval_id=eval_id, limit=1)
    ] == ids


def test_an_item_is_retrieved_only_under_its_run(
    client: OpenAI, evals_api: ApiServer, api_key: str
) -> None:
    eval_id, run_id = new_run(client)
    _, other_run = new_run(client)
    project = project_of(evals_api, api_key)
    (item_id,) = seed_output_items(
        evals_api, project_run=(project, eval_id, run_id), statuses=[FAIL]
    )

    item = client.evals.runs.output_items.retrieve(item_id, eval_id=eval_id, run_id=run_id)
    assert item.id == item_id
    assert item.status == "fail"
    assert item.run_id == run_id
    assert item.eval_id == eval_id
    with pytest.raises(NotFoundError):
        client.evals.runs.output_items.retrieve(item_id, eval_id=eval_id, run_id=other_run)
    with pytest.raises(NotFoundError):
        client.evals.runs.output_items.list(other_run, eval_id=eval_id)


def test_deleting_the_run_deletes_its_items(
    client: OpenAI, evals_api: ApiServer, api_key: str
) -> None:
    eval_id, run_id = new_run(client)
    project = project_of(evals_api, api_key)
    (item_id,) = seed_output_items(
        evals_api, project_run=(project, eval_id, run_id), statuses=[PASS]
    )

    client.evals.runs.delete(run_id, eval_id=eval_id)

    with pytest.raises(NotFoundError):
        client.evals.runs.output_items.retrieve(item_id, eval_id=eval_id, run_id=run_id)
