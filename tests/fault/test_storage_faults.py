"""Faults on the upload path with real processes: the blob store cut off, the api killed.

Nothing half-written may ever be listed, what was stored before must stay whole, and the
same upload must succeed once the fault is gone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import APIStatusError, OpenAI

from service.blobstore import LocalBlobStore
from tests.support.jobs import chat_jsonl
from tests.support.moto_server import MotoS3Server
from tests.support.stack import ApiServer, StackConfig
from tests.support.tcp_proxy import TcpProxy

BOUNDARY = "ftapi-fault-boundary"
CHUNK = b"x" * (256 * 1024)


def _client(stack: ApiServer, key: str) -> OpenAI:
    return OpenAI(
        base_url=stack.base_url, api_key=key, max_retries=0, _strict_response_validation=True
    )


def _multipart(
    n_chunks: int, on_chunk: threading.Event | None = None, pause_after: int = 0
) -> tuple[Iterator[bytes], int]:
    """A streamed multipart/form-data body for POST /v1/files, with its exact length."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
        f'name="file"; filename="big.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n'
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(head) + n_chunks * len(CHUNK) + len(tail)

    def body() -> Iterator[bytes]:
        yield head
        for index in range(n_chunks):
            if index == pause_after and on_chunk is not None:
                on_chunk.set()
                time.sleep(0.5)  # the fault happens while the body is still arriving
            yield CHUNK
        yield tail

    return body(), length


def _post_streamed(
    stack: ApiServer, key: str, body: Iterator[bytes], length: int
) -> httpx.Response:
    return httpx.post(
        f"{stack.base_url}/files",
        content=body,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(length),
        },
        timeout=60,
    )


@pytest.fixture
def s3_behind_proxy(moto_s3: MotoS3Server) -> Iterator[tuple[TcpProxy, str]]:
    bucket = moto_s3.create_bucket()
    port = int(moto_s3.endpoint_url.rsplit(":", 1)[1])
    with TcpProxy("127.0.0.1", port) as proxy:
        yield proxy, bucket


def test_an_unreachable_blob_store_answers_503_loses_nothing_and_the_upload_can_be_retried(
    tmp_path: Path, redis_url: str, moto_s3: MotoS3Server, s3_behind_proxy: tuple[TcpProxy, str]
) -> None:
    proxy, bucket = s3_behind_proxy
    config = StackConfig(
        data_dir=tmp_path, redis_url=redis_url, s3_endpoint_url=proxy.url, s3_bucket=bucket
    )
    with ApiServer(config, ctl_worker=False) as stack:
        key = stack.new_key("blobs-down")
        client = _client(stack, key)
        kept = client.files.create(file=("kept.jsonl", chat_jsonl(5)), purpose="fine-tune")
        objects_before = _object_keys(moto_s3, bucket)

        proxy.cut()
        with pytest.raises(APIStatusError) as refused:
            client.files.create(file=("new.jsonl", chat_jsonl(5)), purpose="fine-tune")
        assert refused.value.status_code == 503
        assert refused.value.response.headers.get("retry-after")
        error = refused.value.response.json()["error"]
        assert error["message"].startswith("The file store is unavailable; nothing was stored.")
        ready = httpx.get(f"{stack.root_url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["checks"]["blob_store"] != "ok"

        # Cut while a 16 MiB body is half-way in: the multipart upload to S3 has begun.
        started = threading.Event()
        body, length = _multipart(64, on_chunk=started, pause_after=40)
        proxy.restore()
        cutter = threading.Thread(target=lambda: (started.wait(30), proxy.cut()))
        cutter.start()
        try:
            response = _post_streamed(stack, key, body, length)
            assert response.status_code == 503, response.text
        except httpx.TransportError:
            pass  # the server answered 503 and closed before the client finished sending
        cutter.join()

        proxy.restore()
        assert [f.id for f in client.files.list()] == [kept.id]
        assert _object_keys(moto_s3, bucket) == objects_before  # no partial object visible
        assert client.files.content(kept.id).content == chat_jsonl(5)

        retried = client.files.create(file=("new.jsonl", chat_jsonl(5)), purpose="fine-tune")
        assert client.files.content(retried.id).content == chat_jsonl(5)
        assert {f.id for f in client.files.list()} == {kept.id, retried.id}


def test_an_api_killed_mid_upload_leaves_no_file_behind(tmp_path: Path, redis_url: str) -> None:
    config = StackConfig(data_dir=tmp_path, redis_url=redis_url)
    stack = ApiServer(config, ctl_worker=False)
    stack.start()
    try:
        key = stack.new_key("killed")
        kept = _client(stack, key).files.create(
            file=("kept.jsonl", chat_jsonl(5)), purpose="fine-tune"
        )
        started = threading.Event()
        body, length = _multipart(64, on_chunk=started, pause_after=32)
        killer = threading.Thread(
            target=lambda: (started.wait(30), os.kill(stack.pid, signal.SIGKILL))
        )
        killer.start()
        with pytest.raises(httpx.TransportError):
            _post_streamed(stack, key, body, length)
        killer.join()
    finally:
        stack.stop()

    with ApiServer(config, ctl_worker=False) as restarted:
        client = _client(restarted, key)
        assert [f.id for f in client.files.list()] == [kept.id]
        assert client.files.content(kept.id).content == chat_jsonl(5)
        # The dead writer's temp file is invisible; the ctl worker's sweep removes it once stale.
        blobs = LocalBlobStore(tmp_path / "blobs")
        writes = asyncio.run(blobs.abandoned_writes(0, limit=10))
        assert len(writes) <= 1
        for write in writes:
            asyncio.run(blobs.discard_abandoned(write))
        asyncio.run(blobs.close())
        stored = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
        big = [p for p in stored if p.stat().st_size >= len(CHUNK)]
        assert big == [], f"a partial upload was left in the blob store: {big}"
        assert client.files.content(kept.id).content == chat_jsonl(5)


def _object_keys(moto_s3: MotoS3Server, bucket: str) -> list[str]:
    listed = moto_s3.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))
