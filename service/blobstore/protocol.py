"""The blob store seam: what the service needs from object storage, whatever backs it.

Two implementations: `LocalBlobStore` (a directory, the default) and `S3BlobStore` (any
S3-compatible store). Both make an object visible only when it is whole, and hash it while it is
written so that nobody reads a file twice to learn its size, sha256 or md5.
"""

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

DEFAULT_READ_CHUNK_BYTES = 1 << 20


def require_positive_chunk_size(chunk_size_bytes: int) -> None:
    """Refuse a read chunk size that would read nothing, or everything at once (-1)."""
    if chunk_size_bytes < 1:
        raise ValueError(f"chunk_size_bytes must be at least 1, got {chunk_size_bytes}")


@dataclass(frozen=True)
class BlobInfo:
    """What a committed object is: its key, size and digests (lower-case hex)."""

    key: str
    size_bytes: int
    sha256: str
    md5: str | None  # only computed when the writer was opened with md5=True


@dataclass(frozen=True)
class AbandonedWrite:
    """What a writer that died mid-write left behind (never a visible object), as the store
    that listed it names it: hand it back to that store's `discard_abandoned`."""

    id: str  # unique in the store: the temp file's name (local), the multipart upload's id (S3)
    object_key: str | None  # the object it was to become, where the store records it (S3)


class BlobWriter(Protocol):
    """One object being written; nothing is visible under its key until `commit()`.

    Used as an async context manager, leaving the block without `commit()` (an exception, a
    cancellation, or simply forgetting) aborts the write.
    """

    async def write(self, chunk: bytes) -> None:
        """Append `chunk` to the object."""
        ...

    async def commit(self) -> BlobInfo:
        """Make the object visible atomically and return its size and digests."""
        ...

    async def abort(self) -> None:
        """Discard everything written; safe after a failed write and safe to call twice."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class BlobStore(Protocol):
    """Object storage for file bodies, upload parts, checkpoints and adapters."""

    def open_writer(self, key: str, *, md5: bool = False) -> BlobWriter:
        """Start writing the object `key` (replacing any committed one when committed).

        sha256 is always computed; md5 (half the speed of sha256) only when asked for.
        """
        ...

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, md5: bool = False
    ) -> BlobInfo:
        """Write all of `chunks` as the object `key` and commit it."""
        ...

    def read_stream(
        self, key: str, *, chunk_size_bytes: int = DEFAULT_READ_CHUNK_BYTES
    ) -> AsyncIterator[bytes]:
        """Stream the object `key`; raises BlobNotFound on the first iteration if it is absent."""
        ...

    async def size_of(self, key: str) -> int | None:
        """Size in bytes of the object `key`, or None if there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Delete the object `key`; deleting an absent key is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix`; return how many were deleted."""
        ...

    async def abandoned_writes(self, older_than_s: float, *, limit: int) -> list[AbandonedWrite]:
        """Up to `limit` writes untouched for `older_than_s`: what writers that died mid-write
        left behind. The ctl worker's sweep discards each on its own, so one that cannot be
        discarded does not keep the others."""
        ...

    async def discard_abandoned(self, write: AbandonedWrite) -> bool:
        """Remove one abandoned write; False when it was gone already (committed, aborted or
        discarded meanwhile)."""
        ...

    async def ping(self) -> None:
        """Check the store is reachable and writable; raise BlobStoreUnavailable if not."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
        ...
