"""Size, sha256 and md5 of a stream, computed in one pass while it is written."""

import hashlib

from service.blobstore.protocol import BlobInfo


class ContentDigest:
    """Running size and digests of the bytes fed to `update()`.

    `update()` is meant to run in a worker thread next to the write of the same buffer: hashlib
    releases the GIL for buffers over 2 KiB, so hashing does not stall the event loop.
    """

    def __init__(self, *, md5: bool = False) -> None:
        self._sha256 = hashlib.sha256()
        # md5 is only an integrity check the Uploads API offers, and costs twice sha256's time.
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.size_bytes = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Account for `data`, the next bytes of the stream."""
        self._sha256.update(data)
        if self._md5 is not None:
            self._md5.update(data)
        self.size_bytes += len(data)

    def info(self, key: str) -> BlobInfo:
        """The BlobInfo of the stream so far, stored under `key`."""
        return BlobInfo(
            key=key,
            size_bytes=self.size_bytes,
            sha256=self._sha256.hexdigest(),
            md5=None if self._md5 is None else self._md5.hexdigest(),
        )
