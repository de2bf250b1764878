"""The streamed tar of a download: a real blob store, a blob several times the chunk size, and
Python's own tarfile reading the result back."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.blobstore.directories import CorruptDirectory
from service.blobstore.local import LocalBlobStore
from service.models.tar_stream import (
    BlobMember,
    BytesMember,
    FileMember,
    archive_size,
    stream_tar,
)

CHUNK = 4096


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


@pytest.fixture
async def blobs(tmp_path: Path) -> AsyncIterator[LocalBlobStore]:
    (tmp_path / "blobs").mkdir()
    store = LocalBlobStore(tmp_path / "blobs")
    yield store
    await store.close()


async def test_blobs_stream_in_bounded_chunks_into_a_tar_readers_accept(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    weights = os.urandom(10 * CHUNK + 123)  # not a whole number of chunks or tar blocks
    info = await blobs.put_stream("p/adapter_model.safetensors", _once(weights))
    local = tmp_path / "tokenizer.json"
    local.write_bytes(b'{"model": {}}' * 700)
    members = [
        BytesMember("adapter_config.json", b'{"r": 8}'),
        BlobMember("adapter_model.safetensors", info.key, info.size_bytes, info.sha256),
        FileMember("tokenizer.json", local, local.stat().st_size),
    ]

    chunks = [c async for c in stream_tar(members, blobs, mtime=1_700_000_000, chunk_bytes=CHUNK)]

    # No piece of the stream is bigger than a chunk: the blob was never read whole.
    assert max(len(chunk) for chunk in chunks) <= CHUNK
    assert sum(len(chunk) for chunk in chunks) > len(weights)
    archive = b"".join(chunks)
    assert len(archive) == archive_size(members)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames() == [
            "adapter_config.json",
            "adapter_model.safetensors",
            "tokenizer.json",
        ]
        assert all(member.isreg() and member.mode == 0o644 for member in tar.getmembers())
        body = tar.extractfile("adapter_model.safetensors")
        assert body is not None
        assert hashlib.sha256(body.read()).hexdigest() == info.sha256
        config = tar.extractfile("adapter_config.json")
        assert config is not None
        assert config.read() == b'{"r": 8}'
        tokenizer = tar.extractfile("tokenizer.json")
        assert tokenizer is not None
        assert tokenizer.read() == local.read_bytes()


async def test_a_blob_that_no_longer_matches_its_manifest_ends_the_stream(
    blobs: LocalBlobStore,
) -> None:
    info = await blobs.put_stream("p/weights.safetensors", _once(b"a" * 3 * CHUNK))
    tampered = BlobMember("weights.safetensors", info.key, info.size_bytes, "0" * 64)
    with pytest.raises(CorruptDirectory):
        async for _chunk in stream_tar([tampered], blobs, mtime=0, chunk_bytes=CHUNK):
            pass
