"""A blob store that runs out of space, for real: the local store rooted on a small tmpfs.

An upload that does not fit answers 507 in OpenAI's envelope and stores nothing, what was stored
before stays whole, and the api goes on serving; a training attempt whose checkpoint or adapter
does not fit fails its job with ``storage_full`` at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import APIStatusError, OpenAI

from tests.support.jobs import (
    TINY_MODEL_ID,
    chat_jsonl,
    stack_config,
    upload_training_file,
    wait_for,
)
from tests.support.small_disk import free_bytes, small_tmpfs
from tests.support.stack import ApiServer, StackConfig

MIB = 1 << 20
DISK_BYTES = 5 * MIB


@pytest.fixture
def blob_disk(tmp_path: Path) -> Iterator[Path]:
    """The root of the local blob store: a tmpfs of DISK_BYTES."""
    with small_tmpfs(tmp_path / "blob-disk", DISK_BYTES) as root:
        yield root


def _client(stack: ApiServer, project: str) -> OpenAI:
    return OpenAI(
        base_url=stack.base_url,
        api_key=stack.new_key(project),
        max_retries=0,
        _strict_response_validation=True,
    )


def _assert_storage_full(status_code: int, should_retry: str | None, body: Any) -> None:
    assert status_code == 507, body
    assert should_retry == "false"  # the SDKs must not re-send the body at once
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "storage_full"
    assert error["code"] == "storage_full"
    assert error["message"].startswith("The server's storage is full; nothing was stored.")


def _refused_as_full(call: Callable[[], object]) -> None:
    with pytest.raises(APIStatusError) as refused:
        call()
    response = refused.value.response
    _assert_storage_full(
        refused.value.status_code, response.headers.get("x-should-retry"), response.json()
    )


def _leftovers(root: Path) -> list[Path]:
    """Temp files of writers: none may survive a failed write."""
    temp_dir = root / ".tmp"
    return sorted(temp_dir.iterdir()) if temp_dir.is_dir() else []


def test_a_file_that_does_not_fit_answers_507_and_loses_nothing(
    tmp_path: Path, redis_url: str, blob_disk: Path
) -> None:
    config = StackConfig(
        data_dir=tmp_path / "state",
        redis_url=redis_url,
        extra_env={"FTAPI_STORAGE__LOCAL_DIR": str(blob_disk)},
    )
    with ApiServer(config, ctl_worker=False) as stack:
        client = _client(stack, "disk-full-files")
        kept = client.files.create(file=("kept.jsonl", chat_jsonl(5)), purpose="fine-tune")
        free_before = free_bytes(blob_disk)

        too_big = bytes(6 * MIB)
        _refused_as_full(
            lambda: client.files.create(file=("big.jsonl", too_big), purpose="fine-tune")
        )
        raw = httpx.post(
            f"{stack.base_url}/files",
            headers={"Authorization": f"Bearer {client.api_key}"},
            data={"purpose": "fine-tune"},
            files={"file": ("big.jsonl", too_big, "application/jsonl")},
            timeout=30,
        )
        _assert_storage_full(raw.status_code, raw.headers.get("x-should-retry"), raw.json())

        assert [f.id for f in client.files.list()] == [kept.id]
        assert client.files.content(kept.id).content == chat_jsonl(5)
        assert _leftovers(blob_disk) == []
        assert free_bytes(blob_disk) == free_before  # the refused bodies took nothing

        # Still serving, and what fits is stored: a small file, then one filling most of the disk.
        small = client.files.create(file=("small.jsonl", chat_jsonl(3)), purpose="fine-tune")
        large = client.files.create(file=("large.bin", bytes(4 * MIB)), purpose="batch")
        assert client.files.content(large.id).content == bytes(4 * MIB)
        assert {f.id for f in client.files.list()} == {kept.id, small.id, large.id}
        assert httpx.get(f"{stack.root_url}/readyz", timeout=10).status_code == 200


def test_upload_parts_and_completion_on_a_full_disk_answer_507_and_can_be_retried(
    tmp_path: Path, redis_url: str, blob_disk: Path
) -> None:
    config = StackConfig(
        data_dir=tmp_path / "state",
        redis_url=redis_url,
        extra_env={"FTAPI_STORAGE__LOCAL_DIR": str(blob_disk)},
    )
    part_a, part_b = b"a" * MIB, b"b" * MIB
    with ApiServer(config, ctl_worker=False) as stack:
        client = _client(stack, "disk-full-uploads")
        upload = client.uploads.create(
            bytes=2 * MIB, filename="train.jsonl", mime_type="text/jsonl", purpose="fine-tune"
        )
        first = client.uploads.parts.create(upload_id=upload.id, data=part_a)
        # 1 MiB of parts + 3.5 MiB of this file: the second part no longer fits in 5 MiB.
        filler = client.files.create(file=("filler.bin", bytes(7 * MIB // 2)), purpose="batch")

        _refused_as_full(lambda: client.uploads.parts.create(upload_id=upload.id, data=part_b))
        assert _leftovers(blob_disk) == []

        client.files.delete(filler.id)
        second = client.uploads.parts.create(upload_id=upload.id, data=part_b)
        # 2 MiB of parts + 2 MiB of this file: the 2 MiB assembled file no longer fits.
        filler = client.files.create(file=("filler.bin", bytes(2 * MIB)), purpose="batch")

        part_ids = [first.id, second.id]
        _refused_as_full(lambda: client.uploads.complete(upload_id=upload.id, part_ids=part_ids))
        assert [f.id for f in client.files.list()] == [filler.id]
        assert _leftovers(blob_disk) == []

        client.files.delete(filler.id)
        completed = client.uploads.complete(upload_id=upload.id, part_ids=part_ids)
        assert completed.status == "completed"
        assert completed.file is not None
        assert client.files.content(completed.file.id).content == part_a + part_b


def _job(client: OpenAI, training_file: str, epochs: int) -> str:
    return client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID,
        training_file=training_file,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}},
    ).id


def test_a_checkpoint_or_adapter_that_does_not_fit_fails_the_job_with_storage_full(
    tmp_path: Path, redis_url: str, job_registry: Path, blob_disk: Path
) -> None:
    config = stack_config(
        tmp_path / "state",
        redis_url,
        job_registry,
        FTAPI_STORAGE__LOCAL_DIR=str(blob_disk),
        # Every checkpoint and adapter of the test trainer carries 6 MiB: more than the disk.
        FTAPI_TEST_TRAINER_PADDING_BYTES=str(6 * MIB),
    )
    with ApiServer(config, gpu_workers=1) as stack:
        client = _client(stack, "disk-full-training")
        training = upload_training_file(client, chat_jsonl(10))
        free_before = free_bytes(blob_disk)

        # Two epochs: the checkpoint after the first one is what does not fit.
        with_checkpoint = _job(client, training, epochs=2)
        running = wait_for(client, with_checkpoint, lambda job: job.status != "validating_files")
        started_s = time.monotonic()
        failed = wait_for(client, with_checkpoint, timeout_s=30)
        failed_after_s = time.monotonic() - started_s
        assert failed.status == "failed", failed.model_dump()
        assert failed.error is not None
        assert failed.error.code == "storage_full"
        assert failed.error.message.startswith("The checkpoint at step")
        assert "storage is full" in failed.error.message
        assert client.fine_tuning.jobs.checkpoints.list(with_checkpoint).data == []
        assert failed_after_s < 15, f"{running.status} → failed took {failed_after_s:.1f} s"

        # One epoch: no checkpoint, the trained adapter itself does not fit.
        adapter_only = _job(client, training, epochs=1)
        failed = wait_for(client, adapter_only, timeout_s=30)
        assert failed.status == "failed", failed.model_dump()
        assert failed.error is not None
        assert failed.error.code == "storage_full"
        assert failed.error.message.startswith("The trained model could not be stored")
        assert not [m for m in client.models.list() if m.id.startswith("ft:")]

        # Nothing half-written is left taking space; the training file is whole; still serving.
        assert _leftovers(blob_disk) == []
        assert free_bytes(blob_disk) == free_before
        assert client.files.content(training).content == chat_jsonl(10)
