"""Fine-tune files are validated after upload: ``files.wait_for_processing`` sees the outcome."""

from __future__ import annotations

import json

from openai import OpenAI


def _chat_line(i: int) -> bytes:
    example = {
        "messages": [
            {"role": "user", "content": f"question {i}"},
            {"role": "assistant", "content": f"answer {i}"},
        ]
    }
    return json.dumps(example).encode() + b"\n"


def test_a_valid_training_file_becomes_processed(client: OpenAI) -> None:
    body = b"".join(_chat_line(i) for i in range(12))
    created = client.files.create(file=("good.jsonl", body), purpose="fine-tune")
    assert created.status in ("uploaded", "processed")

    done = client.files.wait_for_processing(created.id, poll_interval=0.1, max_wait_seconds=30)

    assert done.status == "processed"
    assert done.status_details is None


def test_an_invalid_training_file_becomes_error_with_line_numbers(client: OpenAI) -> None:
    lines = [_chat_line(i) for i in range(12)]
    lines[3] = b'{"messages": [{"role": "wizard", "content": "hi"}]}\n'
    lines[7] = b"not json at all\n"

    created = client.files.create(file=("bad.jsonl", b"".join(lines)), purpose="fine-tune")
    done = client.files.wait_for_processing(created.id, poll_interval=0.1, max_wait_seconds=30)

    assert done.status == "error"
    assert done.status_details is not None
    assert "line 4" in done.status_details
    assert "line 8" in done.status_details


def test_other_purposes_are_processed_at_once(client: OpenAI) -> None:
    created = client.files.create(file=("x.jsonl", b"not json\n"), purpose="batch")
    assert created.status == "processed"


def test_uploads_api_files_are_validated_too(client: OpenAI) -> None:
    body = b"".join(_chat_line(i) for i in range(10))
    upload = client.uploads.upload_file_chunked(
        file=body,
        filename="chunked.jsonl",
        bytes=len(body),
        mime_type="application/jsonl",
        purpose="fine-tune",
        part_size=256,
    )
    assert upload.file is not None

    done = client.files.wait_for_processing(upload.file.id, poll_interval=0.1, max_wait_seconds=30)

    assert done.status == "processed"
