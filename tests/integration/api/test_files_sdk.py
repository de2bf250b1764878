"""Every Files method of the official SDK, strict mode, on every backend combination."""

from __future__ import annotations

import hashlib
from pathlib import Path

import openai
import pytest
from openai import OpenAI

TRAINING_LINE = (
    b'{"messages": [{"role": "user", "content": "hi"}, '
    b'{"role": "assistant", "content": "hello"}]}\n'
)


def test_create_from_path_round_trips_bytes(client: OpenAI, tmp_path: Path) -> None:
    body = TRAINING_LINE * 50 + "ünïcode ✓\n".encode()
    path = tmp_path / "train.jsonl"
    path.write_bytes(body)

    created = client.files.create(file=path, purpose="fine-tune")

    assert created.id.startswith("file-")
    assert created.filename == "train.jsonl"
    assert created.bytes == len(body)
    assert created.purpose == "fine-tune"
    assert created.object == "file"
    assert client.files.content(created.id).read() == body
    retrieved = client.files.retrieve(created.id)
    # status moves from "uploaded" as the content is validated; everything else is fixed.
    assert retrieved.model_dump(exclude={"status", "status_details"}) == created.model_dump(
        exclude={"status", "status_details"}
    )


def test_create_from_bytes_and_tuple(client: OpenAI) -> None:
    raw = client.files.create(file=TRAINING_LINE * 3, purpose="user_data")
    named = client.files.create(file=("data.jsonl", TRAINING_LINE * 4), purpose="fine-tune")

    assert raw.filename == "upload"  # what the SDK names raw bytes
    assert raw.bytes == len(TRAINING_LINE) * 3
    assert named.filename == "data.jsonl"
    assert client.files.content(named.id).read() == TRAINING_LINE * 4


def test_content_of_a_multi_megabyte_file_is_byte_exact(client: OpenAI) -> None:
    body = bytes(range(256)) * (9 * 4096 + 7)  # ~9.4 MB, every byte value, odd length
    created = client.files.create(file=("blob.jsonl", body), purpose="user_data")

    fetched = client.files.content(created.id).read()

    assert hashlib.sha256(fetched).hexdigest() == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_list_pages_through_every_file_in_order(client: OpenAI, order: str) -> None:
    ids = [
        client.files.create(file=(f"f{i}.jsonl", TRAINING_LINE), purpose="fine-tune").id
        for i in range(7)
    ]

    first_page = client.files.list(limit=3, order=order)  # type: ignore[arg-type]
    assert len(first_page.data) == 3
    assert first_page.has_more is True
    listed = [f.id for f in client.files.list(limit=3, order=order)]  # type: ignore[arg-type]

    expected = ids if order == "asc" else list(reversed(ids))
    assert listed == expected


def test_list_filters_by_purpose(client: OpenAI) -> None:
    tuned = client.files.create(file=("a.jsonl", TRAINING_LINE), purpose="fine-tune")
    other = client.files.create(file=("b.jsonl", TRAINING_LINE), purpose="batch")

    assert [f.id for f in client.files.list(purpose="fine-tune")] == [tuned.id]
    batch = client.files.retrieve(other.id)
    assert batch.expires_at is not None  # batch files expire after 30 days by default
    assert batch.expires_at - batch.created_at == 30 * 24 * 3600


def test_expires_after_is_applied(client: OpenAI) -> None:
    created = client.files.create(
        file=("e.jsonl", TRAINING_LINE),
        purpose="fine-tune",
        expires_after={"anchor": "created_at", "seconds": 7200},
    )
    assert created.expires_at == created.created_at + 7200


def test_delete_removes_the_file(client: OpenAI) -> None:
    created = client.files.create(file=("d.jsonl", TRAINING_LINE), purpose="fine-tune")

    deleted = client.files.delete(created.id)

    assert deleted.id == created.id
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError) as excinfo:
        client.files.retrieve(created.id)
    assert excinfo.value.code is None
    assert excinfo.value.param == "id"
    with pytest.raises(openai.NotFoundError):
        client.files.content(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(created.id)


def test_wait_for_processing_returns_processed(client: OpenAI) -> None:
    created = client.files.create(file=("w.jsonl", TRAINING_LINE), purpose="user_data")
    done = client.files.wait_for_processing(created.id, poll_interval=0.1, max_wait_seconds=10)
    assert done.status == "processed"


def test_bad_purpose_is_a_400_naming_purpose(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.files.create(file=("x.jsonl", TRAINING_LINE), purpose="nonsense")  # type: ignore[arg-type]
    assert excinfo.value.param == "purpose"


def test_fine_tune_file_with_another_extension_is_refused(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.files.create(file=("train.csv", TRAINING_LINE), purpose="fine-tune")
    assert "Must be .jsonl" in excinfo.value.message
    assert client.files.list().data == []
