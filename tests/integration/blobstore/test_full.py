"""A store with no space left says so with BlobStoreFull, and keeps nothing of the failed write."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from service.blobstore import BlobStoreFull, BlobStoreUnavailable, LocalBlobStore, S3BlobStore
from service.blobstore.s3_config import S3Config
from tests.support.small_disk import small_tmpfs

MIB = 1 << 20
# What MinIO answers once its drives pass the free-space threshold.
MINIO_STORAGE_FULL = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>XMinioStorageFull</Code>'
    b"<Message>Storage backend has reached its minimum free drive threshold.</Message>"
    b"<Resource>/bucket/k</Resource><RequestId>1</RequestId></Error>"
)


async def chunks(n_chunks: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(n_chunks):
        yield bytes(size)


@pytest.mark.parametrize(
    ("n_chunks", "chunk_bytes"),
    [(1, 3 * MIB), (12, MIB)],  # the commit does not fit; a write-behind buffer does not fit
    ids=["at-commit", "mid-stream"],
)
async def test_a_local_store_out_of_space_raises_blob_store_full_and_leaves_nothing(
    tmp_path: Path, n_chunks: int, chunk_bytes: int
) -> None:
    with small_tmpfs(tmp_path / "disk", 2 * MIB) as root:
        store = LocalBlobStore(root, write_buffer_bytes=MIB)
        try:
            await store.put_stream("kept", chunks(1, 1000))
            with pytest.raises(BlobStoreFull, match="no space left"):
                await store.put_stream("too-big", chunks(n_chunks, chunk_bytes))
            assert sorted(p.name for p in (root / ".tmp").iterdir()) == []
            assert await store.size_of("too-big") is None
            assert b"".join([c async for c in store.read_stream("kept")]) == bytes(1000)
            await store.put_stream("fits", chunks(1, MIB))  # the space was given back
        finally:
            await store.close()


class _FullMinio(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(507)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(MINIO_STORAGE_FULL)))
        self.end_headers()
        self.wfile.write(MINIO_STORAGE_FULL)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test's output is not the place for an access log."""


@pytest.fixture
def full_minio() -> Iterator[str]:
    """An endpoint answering every PUT as a MinIO whose drives are full; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FullMinio)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_an_s3_store_answering_storage_full_raises_blob_store_full(full_minio: str) -> None:
    store = S3BlobStore(
        S3Config(
            bucket="bucket",
            endpoint_url=full_minio,
            region="us-east-1",
            path_style=True,
            access_key_id="testing",
            secret_access_key="testing",
            max_attempts=1,
        )
    )
    try:
        with pytest.raises(BlobStoreFull, match="XMinioStorageFull") as full:
            await store.put_stream("k", chunks(1, 1000))
        assert isinstance(full.value, BlobStoreUnavailable)  # callers that know only that
    finally:
        await store.close()
