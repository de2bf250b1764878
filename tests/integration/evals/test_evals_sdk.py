"""``client.evals``: create, list, retrieve, update, delete with the SDK in strict mode."""

from __future__ import annotations

import httpx
import pytest
from openai import NotFoundError, OpenAI

from tests.integration.evals.conftest import ITEM_SCHEMA, STRING_CHECK, custom_config
from tests.support.jobs import TINY_MODEL_ID

ALL_CRITERIA = [
    STRING_CHECK,
    {
        "type": "text_similarity",
        "name": "close",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "evaluation_metric": "fuzzy_match",
        "pass_threshold": 0.8,
    },
    {
        "type": "score_model",
        "name": "judge",
        "model": TINY_MODEL_ID,
        "input": [
            {"role": "system", "content": "Score the answer from 0 to 1."},
            {"role": "user", "content": "Q: {{item.question}} A: {{sample.output_text}}"},
        ],
        "range": [0, 1],
        "pass_threshold": 0.5,
    },
    {
        "type": "label_model",
        "name": "label",
        "model": TINY_MODEL_ID,
        "input": [{"role": "user", "content": "Is '{{sample.output_text}}' polite?"}],
        "labels": ["yes", "no"],
        "passing_labels": ["yes"],
    },
]


def test_an_eval_is_created_as_the_sdk_reads_it(client: OpenAI) -> None:
    created = client.evals.create(
        name="qa",
        metadata={"team": "ml"},
        data_source_config=custom_config(),  # type: ignore[arg-type]
        testing_criteria=ALL_CRITERIA,  # type: ignore[arg-type]
    )

    assert created.id.startswith("eval_")
    assert created.object == "eval"
    assert created.name == "qa"
    assert created.metadata == {"team": "ml"}
    config = created.data_source_config
    assert config.type == "custom"
    schema = config.schema_
    assert schema["properties"]["item"] == ITEM_SCHEMA  # type: ignore[index]
    assert "sample" in schema["properties"]  # type: ignore[operator]
    assert schema["required"] == ["item", "sample"]
    assert [criterion.name for criterion in created.testing_criteria] == [
        "exact",
        "close",
        "judge",
        "label",
    ]
    similarity = created.testing_criteria[1]
    assert similarity.type == "text_similarity"
    assert similarity.pass_threshold == 0.8  # type: ignore[union-attr]
    fetched = client.evals.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()


def test_without_a_sample_schema_the_schema_holds_only_the_item(client: OpenAI) -> None:
    created = client.evals.create(
        data_source_config=custom_config(include_sample_schema=False),  # type: ignore[arg-type]
        testing_criteria=[
            {**STRING_CHECK, "input": "{{item.question}}", "reference": "{{item.answer}}"}
        ],  # type: ignore[list-item]
    )

    schema = created.data_source_config.schema_
    assert list(schema["properties"]) == ["item"]  # type: ignore[call-overload]
    assert created.name == ""


def test_list_pages_in_order_with_cursors(client: OpenAI) -> None:
    ids = [
        client.evals.create(
            name=f"e{i}",
            data_source_config=custom_config(),  # type: ignore[arg-type]
            testing_criteria=[STRING_CHECK],  # type: ignore[list-item]
        ).id
        for i in range(3)
    ]

    first = client.evals.list(limit=2)
    assert [e.id for e in first.data] == ids[:2]
    assert first.has_more is True
    rest = client.evals.list(limit=2, after=first.data[-1].id)
    assert [e.id for e in rest.data] == ids[2:]
    assert rest.has_more is False
    newest_first = client.evals.list(order="desc", order_by="updated_at")
    assert [e.id for e in newest_first.data] == ids[::-1]
    assert [e.id for e in client.evals.list(limit=1)] == ids  # the SDK follows the cursor


def test_update_renames_and_replaces_or_clears_metadata(client: OpenAI) -> None:
    created = client.evals.create(
        name="before",
        metadata={"a": "1"},
        data_source_config=custom_config(),  # type: ignore[arg-type]
        testing_criteria=[STRING_CHECK],  # type: ignore[list-item]
    )

    renamed = client.evals.update(created.id, name="after")
    assert renamed.name == "after"
    assert renamed.metadata == {"a": "1"}
    replaced = client.evals.update(created.id, metadata={"b": "2"})
    assert replaced.metadata == {"b": "2"}
    assert replaced.name == "after"
    cleared = client.evals.update(created.id, metadata=None)
    assert cleared.metadata is None
    assert client.evals.retrieve(created.id).testing_criteria == created.testing_criteria


def test_delete_removes_the_eval_and_its_runs(client: OpenAI, http: httpx.Client) -> None:
    created = client.evals.create(
        data_source_config=custom_config(),  # type: ignore[arg-type]
        testing_criteria=[STRING_CHECK],  # type: ignore[list-item]
    )
    run = http.post(
        f"/v1/evals/{created.id}/runs",
        json={
            "data_source": {
                "type": "jsonl",
                "source": {
                    "type": "file_content",
                    "content": [
                        {"item": {"question": "q", "answer": "a"}, "sample": {"output_text": "a"}}
                    ],
                },
            }
        },
    )
    assert run.status_code == 200, run.text

    deleted = client.evals.delete(created.id)

    assert deleted.deleted is True
    assert deleted.eval_id == created.id
    assert deleted.object == "eval.deleted"
    with pytest.raises(NotFoundError):
        client.evals.retrieve(created.id)
    with pytest.raises(NotFoundError):
        client.evals.runs.retrieve(run.json()["id"], eval_id=created.id)
    with pytest.raises(NotFoundError):
        client.evals.delete(created.id)


def test_unknown_ids_answer_404_in_openais_envelope(client: OpenAI, http: httpx.Client) -> None:
    with pytest.raises(NotFoundError) as raised:
        client.evals.retrieve("eval_missing")
    assert raised.value.body["param"] == "eval_id"  # type: ignore[index]
    missing_update = http.post("/v1/evals/eval_missing", json={"name": "x"})
    assert missing_update.status_code == 404
    assert http.get("/v1/evals/eval_missing/runs").status_code == 404
