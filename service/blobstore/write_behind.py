"""The buffering half of a BlobWriter, shared by the local and S3 writers.

Chunks from the caller (often a few KiB from a multipart parser) are gathered into a buffer of
at least `flush_threshold_bytes`; each full buffer goes to a worker thread in one hop that both
writes and hashes it. The writer does not wait for that hop before accepting the next chunk: one
buffer is in flight while the next one fills, so disk or network I/O overlaps with the event
loop's parsing. Memory per writer is therefore about two buffers, whatever the object's size.
"""

import abc
import asyncio
import enum
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from types import TracebackType
from typing import Self

from service.blobstore.digest import ContentDigest
from service.blobstore.protocol import BlobInfo

logger = logging.getLogger(__name__)


class _State(enum.Enum):
    OPEN = "open"
    COMMITTED = "committed"
    ABORTED = "aborted"
    FAILED = "failed"


class WriteBehindBlobWriter(abc.ABC):
    """A BlobWriter that buffers, then writes and hashes each buffer in a worker thread.

    Subclasses supply the three blocking steps, all called in the executor and never two at
    once: `_write_buffer_sync` (a full buffer), `_commit_sync` (the last, possibly empty, buffer;
    then make the object visible) and `_discard_sync` (drop whatever was written).
    """

    def __init__(
        self, key: str, *, flush_threshold_bytes: int, executor: Executor, md5: bool = False
    ) -> None:
        self.key = key
        self._flush_threshold_bytes = flush_threshold_bytes
        self._executor = executor
        self._digest = ContentDigest(md5=md5)
        self._buffer = bytearray()
        self._in_flight: Future[None] | None = None
        self._hashing: Future[None] | None = None
        self._state = _State.OPEN

    @abc.abstractmethod
    def _write_buffer_sync(self, data: bytes | bytearray) -> None:
        """Store `data`, the next bytes of the object (runs in a worker thread)."""

    @abc.abstractmethod
    def _commit_sync(self, tail: bytes | bytearray) -> None:
        """Store `tail`, the last bytes (maybe none), and make the object visible."""

    @abc.abstractmethod
    def _discard_sync(self) -> None:
        """Drop everything stored so far; must tolerate being called after a failure."""

    async def write(self, chunk: bytes) -> None:
        """Append `chunk` to the object."""
        self._require_open()
        if not chunk:
            return
        if not self._buffer and len(chunk) >= self._flush_threshold_bytes:
            # Big enough already: hand it off without copying, unless the caller could still
            # mutate it while the thread works on it (write-behind keeps a reference).
            await self._hand_off(chunk if isinstance(chunk, bytes) else bytes(chunk))
            return
        self._buffer += chunk
        if len(self._buffer) >= self._flush_threshold_bytes:
            full, self._buffer = self._buffer, bytearray()
            await self._hand_off(full)

    async def commit(self) -> BlobInfo:
        """Write what is buffered, make the object visible, and return its BlobInfo.

        If this fails, what was written is discarded before the error propagates.
        """
        self._require_open()
        tail, self._buffer = self._buffer, bytearray()
        try:
            await self._wait_for_in_flight()
            await self._run(self._hashed(tail))
        except BaseException:
            self._state = _State.FAILED
            await self._discard_after_error()
            raise
        self._state = _State.COMMITTED
        return self._digest.info(self.key)

    async def abort(self) -> None:
        """Discard everything written. A no-op after commit or a previous abort."""
        if self._state in (_State.COMMITTED, _State.ABORTED):
            return
        self._state = _State.ABORTED
        self._buffer = bytearray()
        await self._settle_in_flight()
        await self._run(self._discard_sync)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.abort()
        elif self._state is not _State.COMMITTED:
            await self._discard_after_error()

    async def _hand_off(self, data: bytes | bytearray) -> None:
        try:
            await self._wait_for_in_flight()
        except BaseException:
            self._state = _State.FAILED
            raise
        # Hashing and writing the same buffer run side by side (both release the GIL): on a
        # small machine sha256 alone costs as much as the disk write.
        self._in_flight = self._executor.submit(self._write_buffer_sync, data)
        self._hashing = _hash_pool().submit(self._digest.update, data)

    def _hashed(self, tail: bytes | bytearray) -> Callable[[], None]:
        def commit_tail() -> None:
            self._digest.update(tail)
            self._commit_sync(tail)

        return commit_tail

    async def _run(self, blocking: Callable[[], None]) -> None:
        await self._wait_for_in_flight()
        self._in_flight = self._executor.submit(blocking)
        await self._wait_for_in_flight()

    async def _wait_for_in_flight(self) -> None:
        # The reference is dropped only once the job is done: a cancelled await does not stop
        # the thread, and abort() must not clean up underneath a job that is still running.
        if self._hashing is not None:
            await asyncio.wrap_future(self._hashing)
            self._hashing = None
        if self._in_flight is not None:
            await asyncio.wrap_future(self._in_flight)
            self._in_flight = None

    async def _settle_in_flight(self) -> None:
        """Wait for the jobs in flight to end, ignoring their outcome (we are discarding)."""
        jobs = [job for job in (self._in_flight, self._hashing) if job is not None]
        if not jobs:
            return
        done = [asyncio.wrap_future(job) for job in jobs]
        await asyncio.wait(done)
        for job in done:
            if not job.cancelled():
                job.exception()  # retrieved, so asyncio does not log it as unhandled
        self._in_flight = self._hashing = None

    async def _discard_after_error(self) -> None:
        # An error is already propagating: a failing cleanup must not replace it.
        try:
            await self.abort()
        except Exception:
            logger.warning("could not discard the partial blob %r", self.key, exc_info=True)

    def _require_open(self) -> None:
        if self._state is not _State.OPEN:
            raise RuntimeError(f"blob writer for {self.key!r} is {self._state.value}")


@functools.cache
def _hash_pool() -> ThreadPoolExecutor:
    """Threads that only hash, shared by every writer of the process.

    Separate from the stores' I/O pools so a write never waits for a thread held by a write.
    """
    return ThreadPoolExecutor(4, thread_name_prefix="blobstore-hash")
