"""Every Uploads method of the official SDK, strict mode, on every backend combination."""

from __future__ import annotations

import hashlib
from pathlib import Path

import openai
import pytest
from openai import OpenAI

PART_BYTES = 1024 * 1024 + 13  # odd sizes exercise reassembly across part boundaries


def _body(n_bytes: int) -> bytes:
    pattern = b'{"prompt": "p", "completion": "c"}\n'
    return (pattern * (n_bytes // len(pattern) + 1))[:n_bytes]


def test_upload_file_chunked_with_several_parts(client: OpenAI, tmp_path: Path) -> None:
    body = _body(3 * PART_BYTES + 100)
    path = tmp_path / "big.jsonl"
    path.write_bytes(body)

    upload = client.uploads.upload_file_chunked(
        file=path, mime_type="application/jsonl", purpose="fine-tune", part_size=PART_BYTES
    )

    assert upload.status == "completed"
    assert upload.file is not None
    assert upload.file.bytes == len(body)
    assert upload.file.filename == "big.jsonl"
    assert client.files.content(upload.file.id).read() == body
    assert [f.id for f in client.files.list()] == [upload.file.id]


def test_parts_are_assembled_in_part_ids_order_and_md5_checked(client: OpenAI) -> None:
    chunks = [b"A" * 1000, b"B" * 2000, b"C" * 500]
    body = chunks[2] + chunks[0] + chunks[1]
    upload = client.uploads.create(
        bytes=len(body), filename="o.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    assert upload.status == "pending"
    assert upload.expires_at - upload.created_at == 3600
    part_ids = [client.uploads.parts.create(upload.id, data=chunk).id for chunk in chunks]

    done = client.uploads.complete(
        upload.id,
        part_ids=[part_ids[2], part_ids[0], part_ids[1]],
        md5=hashlib.md5(body).hexdigest(),  # noqa: S324 - the API's own checksum choice
    )

    assert done.status == "completed"
    assert done.file is not None
    assert client.files.content(done.file.id).read() == body


def test_wrong_md5_fails_with_400_and_stores_nothing(client: OpenAI) -> None:
    upload = client.uploads.create(
        bytes=4, filename="m.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = client.uploads.parts.create(upload.id, data=b"abcd")

    with pytest.raises(openai.BadRequestError) as excinfo:
        client.uploads.complete(upload.id, part_ids=[part.id], md5="0" * 32)

    assert excinfo.value.param == "md5"
    assert client.files.list().data == []


def test_wrong_byte_count_fails_with_400(client: OpenAI) -> None:
    upload = client.uploads.create(
        bytes=10, filename="n.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = client.uploads.parts.create(upload.id, data=b"12345")

    with pytest.raises(openai.BadRequestError) as excinfo:
        client.uploads.complete(upload.id, part_ids=[part.id])

    assert excinfo.value.param == "bytes"
    # The upload is still pending: the caller can add the missing part and complete.
    rest = client.uploads.parts.create(upload.id, data=b"67890")
    done = client.uploads.complete(upload.id, part_ids=[part.id, rest.id])
    assert done.file is not None
    assert client.files.content(done.file.id).read() == b"1234567890"


def test_a_part_past_the_declared_size_is_refused(client: OpenAI) -> None:
    upload = client.uploads.create(
        bytes=3, filename="s.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.uploads.parts.create(upload.id, data=b"toolong")
    assert excinfo.value.param == "data"


def test_cancel_then_no_more_parts(client: OpenAI) -> None:
    upload = client.uploads.create(
        bytes=4, filename="c.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    client.uploads.parts.create(upload.id, data=b"ab")

    cancelled = client.uploads.cancel(upload.id)

    assert cancelled.status == "cancelled"
    assert cancelled.file is None
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.uploads.parts.create(upload.id, data=b"cd")
    assert excinfo.value.code == "upload_cancelled"
    with pytest.raises(openai.BadRequestError):
        client.uploads.complete(upload.id, part_ids=[])


def test_unknown_upload_is_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.uploads.cancel("upload_doesnotexist")
