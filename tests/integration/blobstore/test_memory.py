"""Streaming a large object through the local store holds a bounded amount of memory."""

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import psutil

from service.blobstore import LocalBlobStore

MIB = 1024 * 1024
OBJECT_SIZE_BYTES = 200 * MIB
CHUNK_BYTES = 64 * 1024  # about what a multipart parser hands over
MAX_RSS_GROWTH_BYTES = 30 * MIB


class PeakRss:
    """Samples this process's resident set size and remembers the peak above a baseline."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.baseline_bytes: int = self._process.memory_info().rss
        self.peak_bytes = self.baseline_bytes

    def sample(self) -> None:
        self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)

    @property
    def growth_bytes(self) -> int:
        return int(self.peak_bytes - self.baseline_bytes)


async def test_a_200_mb_object_streams_in_and_out_in_bounded_memory(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    block = os.urandom(CHUNK_BYTES)
    expected_sha256 = hashlib.sha256()
    rss = PeakRss()

    async def generated() -> AsyncIterator[bytes]:
        for index in range(OBJECT_SIZE_BYTES // CHUNK_BYTES):
            chunk = index.to_bytes(8, "big") + block[8:]  # every chunk differs
            expected_sha256.update(chunk)
            if index % 64 == 0:
                rss.sample()
            yield chunk

    info = await store.put_stream("big/object", generated())
    read_sha256 = hashlib.sha256()
    read_bytes = 0
    async for chunk in store.read_stream("big/object"):
        read_sha256.update(chunk)
        read_bytes += len(chunk)
        rss.sample()
    await store.close()

    assert info.size_bytes == read_bytes == OBJECT_SIZE_BYTES
    assert info.sha256 == read_sha256.hexdigest() == expected_sha256.hexdigest()
    assert rss.growth_bytes < MAX_RSS_GROWTH_BYTES, f"RSS grew by {rss.growth_bytes / MIB:.1f} MiB"
