"""A store that cannot be reached or written says so with BlobStoreUnavailable and a reason."""

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.blobstore import BlobStoreUnavailable, LocalBlobStore, S3BlobStore, S3Config


def closed_loopback_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def unreachable_s3_store() -> AsyncIterator[S3BlobStore]:
    """An S3 store whose endpoint refuses connections; one attempt per call keeps tests fast."""
    store = S3BlobStore(
        S3Config(
            bucket="ftapi-unreachable",
            endpoint_url=f"http://127.0.0.1:{closed_loopback_port()}",
            region="us-east-1",
            path_style=True,
            access_key_id="testing",
            secret_access_key="testing",
            max_attempts=1,
        )
    )
    yield store
    await store.close()


async def test_ping_reports_an_s3_endpoint_that_refuses_connections(
    unreachable_s3_store: S3BlobStore,
) -> None:
    with pytest.raises(BlobStoreUnavailable, match=r"ftapi-unreachable.*Could not connect"):
        await unreachable_s3_store.ping()


async def test_every_s3_operation_reports_an_unreachable_endpoint(
    unreachable_s3_store: S3BlobStore,
) -> None:
    store = unreachable_s3_store
    with pytest.raises(BlobStoreUnavailable, match="Could not connect"):
        await store.put_stream("k", one_chunk(b"data"))
    with pytest.raises(BlobStoreUnavailable, match="Could not connect"):
        await anext(store.read_stream("k"))
    with pytest.raises(BlobStoreUnavailable, match="Could not connect"):
        await store.size_of("k")
    with pytest.raises(BlobStoreUnavailable, match="Could not connect"):
        await store.delete("k")
    with pytest.raises(BlobStoreUnavailable, match="Could not connect"):
        await store.delete_prefix("k/")


async def test_ping_reports_a_local_root_that_does_not_exist(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "missing")
    with pytest.raises(BlobStoreUnavailable, match=r"missing.*does not exist"):
        await store.ping()
    with pytest.raises(BlobStoreUnavailable, match="does not exist"):
        await store.put_stream("k", one_chunk(b"data"))
    assert not (tmp_path / "missing").exists()  # a write must not conjure the root up
    await store.close()


async def test_ping_reports_a_local_root_that_is_a_file(tmp_path: Path) -> None:
    root = tmp_path / "a-file"
    root.write_bytes(b"")
    store = LocalBlobStore(root)
    with pytest.raises(BlobStoreUnavailable, match="not a directory"):
        await store.ping()
    await store.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="permission bits do not stop root")
async def test_ping_reports_a_local_root_that_is_not_writable(tmp_path: Path) -> None:
    root = tmp_path / "read-only"
    root.mkdir(mode=0o500)
    store = LocalBlobStore(root)
    try:
        with pytest.raises(BlobStoreUnavailable, match="Permission denied"):
            await store.ping()
    finally:
        root.chmod(0o700)
        await store.close()


async def test_ping_reports_a_local_root_where_no_file_can_be_created(tmp_path: Path) -> None:
    # Works as root too: the temp directory's name is taken by a file.
    (tmp_path / ".tmp").write_bytes(b"")
    store = LocalBlobStore(tmp_path)
    with pytest.raises(BlobStoreUnavailable, match=r"\.tmp"):
        await store.ping()
    with pytest.raises(BlobStoreUnavailable, match=r"\.tmp"):
        await store.put_stream("k", one_chunk(b"data"))
    await store.close()
