"""Blob store on a local directory: the embedded default.

An object is written to a temp file in `<root>/.tmp/` (same filesystem, so the final rename is
atomic), fsynced, then renamed into place with `os.replace`, and the directory is fsynced so the
rename survives a crash. Keys are validated by `keys.validate_key`, which cannot name `..`, an
absolute path or a hidden segment, so every key stays inside the root and away from `.tmp/`.
"""

import asyncio
import errno
import functools
import os
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, ParamSpec, TypeVar

from service.blobstore.errors import (
    BlobNotFound,
    BlobStoreFull,
    BlobStoreUnavailable,
    InvalidBlobKey,
)
from service.blobstore.keys import validate_key, validate_prefix
from service.blobstore.protocol import (
    DEFAULT_READ_CHUNK_BYTES,
    AbandonedWrite,
    BlobInfo,
    require_positive_chunk_size,
)
from service.blobstore.write_behind import WriteBehindBlobWriter

TEMP_DIR_NAME = ".tmp"
# At least 1 MiB per thread hop: fewer hops, and hashlib releases the GIL on large buffers.
DEFAULT_WRITE_BUFFER_BYTES = 4 << 20
DEFAULT_IO_THREADS = 8

_P = ParamSpec("_P")
_T = TypeVar("_T")


# What the kernel answers when a write, fsync or rename finds no space (EDQUOT: a quota).
_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextmanager
def _unavailable_on_os_error(root: Path) -> Iterator[None]:
    """Report a failing disk (permissions, read-only, gone) as BlobStoreUnavailable, and one
    with no space left as BlobStoreFull."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _NO_SPACE_ERRNOS:
            raise BlobStoreFull(f"local blob store at {root} has no space left: {exc}") from exc
        raise BlobStoreUnavailable(f"local blob store at {root}: {exc}") from exc


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobWriter(WriteBehindBlobWriter):
    """Writes one object into a temp file and renames it into place on commit."""

    def __init__(
        self,
        key: str,
        *,
        root: Path,
        flush_threshold_bytes: int,
        executor: ThreadPoolExecutor,
        md5: bool = False,
    ) -> None:
        super().__init__(
            key, flush_threshold_bytes=flush_threshold_bytes, executor=executor, md5=md5
        )
        self._root = root
        self._final_path = root / key
        self._temp_path: Path | None = None
        self._file: BinaryIO | None = None

    def _open_temp_file_sync(self) -> tuple[BinaryIO, Path]:
        if self._file is None or self._temp_path is None:
            if not self._root.is_dir():
                raise BlobStoreUnavailable(f"local blob store root {self._root} does not exist")
            temp_dir = self._root / TEMP_DIR_NAME
            temp_dir.mkdir(exist_ok=True)
            fd, temp_name = tempfile.mkstemp(dir=temp_dir, prefix="write-")
            self._temp_path = Path(temp_name)
            self._file = os.fdopen(fd, "wb")
        return self._file, self._temp_path

    def _write_buffer_sync(self, data: bytes | bytearray) -> None:
        with _unavailable_on_os_error(self._root):
            file, _ = self._open_temp_file_sync()
            file.write(data)

    def _commit_sync(self, tail: bytes | bytearray) -> None:
        with _unavailable_on_os_error(self._root):
            file, temp_path = self._open_temp_file_sync()
            file.write(tail)
            file.flush()
            os.fsync(file.fileno())
            file.close()
            self._final_path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp_path, self._final_path)
            self._temp_path = None
            _fsync_directory(self._final_path.parent)

    def _discard_sync(self) -> None:
        if self._file is not None:
            with suppress(OSError):  # a failed write may leave the file unflushable
                self._file.close()
        if self._temp_path is not None:
            with _unavailable_on_os_error(self._root):
                self._temp_path.unlink(missing_ok=True)
            self._temp_path = None


class LocalBlobStore:
    """BlobStore on a directory that must already exist (the factory creates it)."""

    def __init__(
        self,
        root: Path,
        *,
        write_buffer_bytes: int = DEFAULT_WRITE_BUFFER_BYTES,
        io_threads: int = DEFAULT_IO_THREADS,
    ) -> None:
        if write_buffer_bytes < 1:
            raise ValueError(f"write_buffer_bytes must be positive, got {write_buffer_bytes}")
        self.root = root
        self._write_buffer_bytes = write_buffer_bytes
        # Our own pool: long blocking file I/O must not starve the loop's default executor.
        self._executor = ThreadPoolExecutor(io_threads, thread_name_prefix="blobstore-local")

    def open_writer(self, key: str, *, md5: bool = False) -> LocalBlobWriter:
        """Start writing `key`; it appears only when the writer commits."""
        return LocalBlobWriter(
            validate_key(key),
            root=self.root,
            flush_threshold_bytes=self._write_buffer_bytes,
            executor=self._executor,
            md5=md5,
        )

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, md5: bool = False
    ) -> BlobInfo:
        """Write all of `chunks` as `key` and commit it."""
        async with self.open_writer(key, md5=md5) as writer:
            async for chunk in chunks:
                await writer.write(chunk)
            return await writer.commit()

    async def read_stream(
        self, key: str, *, chunk_size_bytes: int = DEFAULT_READ_CHUNK_BYTES
    ) -> AsyncIterator[bytes]:
        """Stream `key` in chunks of up to `chunk_size_bytes`; BlobNotFound if absent."""
        path = self.root / validate_key(key)
        require_positive_chunk_size(chunk_size_bytes)

        def open_for_reading() -> BinaryIO | None:
            try:
                return path.open("rb")
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return None

        def read_chunk(file: BinaryIO) -> bytes:
            with _unavailable_on_os_error(self.root):
                return file.read(chunk_size_bytes)

        with _unavailable_on_os_error(self.root):
            file = await self._in_thread(open_for_reading)
        if file is None:
            raise BlobNotFound(key)
        try:
            while chunk := await self._in_thread(read_chunk, file):
                yield chunk
        finally:
            file.close()  # closing a file opened for reading does not block

    async def size_of(self, key: str) -> int | None:
        """Size of `key` in bytes, or None if absent."""
        path = self.root / validate_key(key)

        def stat_size() -> int | None:
            try:
                stat = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                return None
            return stat.st_size if path.is_file() else None

        with _unavailable_on_os_error(self.root):
            return await self._in_thread(stat_size)

    async def delete(self, key: str) -> None:
        """Delete `key`; nothing happens if it is absent."""
        path = self.root / validate_key(key)

        def unlink() -> None:
            with suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                path.unlink()

        with _unavailable_on_os_error(self.root):
            await self._in_thread(unlink)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix`; return how many."""
        directory, _, name_start = validate_prefix(prefix).rpartition("/")
        parent = self.root / directory

        def delete_matching() -> int:
            try:
                entries = [
                    entry for entry in os.scandir(parent) if entry.name.startswith(name_start)
                ]
            except (FileNotFoundError, NotADirectoryError):
                return 0
            deleted = 0
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    deleted += _delete_tree(Path(entry.path))
                else:
                    Path(entry.path).unlink(missing_ok=True)
                    deleted += 1
            if not name_start:  # "a/b/" names the directory itself: leave no empty husk
                _remove_if_empty(parent)
            return deleted

        with _unavailable_on_os_error(self.root):
            return await self._in_thread(delete_matching)

    async def abandoned_writes(self, older_than_s: float, *, limit: int) -> list[AbandonedWrite]:
        """Temp files untouched for `older_than_s` (a live writer keeps its file's mtime fresh,
        so these are the files of writers that died mid-write), at most `limit`."""
        temp_dir = self.root / TEMP_DIR_NAME

        def list_stale() -> list[AbandonedWrite]:
            cutoff = time.time() - older_than_s
            found: list[AbandonedWrite] = []
            try:
                entries = os.scandir(temp_dir)
            except FileNotFoundError:
                return found
            with entries:
                for entry in entries:
                    if len(found) >= limit:
                        break
                    with suppress(FileNotFoundError):  # committed or discarded meanwhile
                        if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                            found.append(AbandonedWrite(id=entry.name, object_key=None))
            return found

        with _unavailable_on_os_error(self.root):
            return await self._in_thread(list_stale)

    async def discard_abandoned(self, write: AbandonedWrite) -> bool:
        """Delete the temp file `write` names; False when it is gone already."""
        if write.id in {"", ".", ".."} or "/" in write.id:
            raise InvalidBlobKey(f"not a temp file name: {write.id!r}")
        path = self.root / TEMP_DIR_NAME / write.id

        def unlink() -> bool:
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            return True

        with _unavailable_on_os_error(self.root):
            return await self._in_thread(unlink)

    async def ping(self) -> None:
        """Check the root exists and a file can be created in it."""

        def create_and_remove_a_file() -> None:
            if not self.root.is_dir():
                raise BlobStoreUnavailable(
                    f"local blob store root {self.root} does not exist or is not a directory"
                )
            temp_dir = self.root / TEMP_DIR_NAME
            temp_dir.mkdir(exist_ok=True)
            fd, name = tempfile.mkstemp(dir=temp_dir, prefix="ping-")
            os.close(fd)
            os.unlink(name)

        with _unavailable_on_os_error(self.root):
            await self._in_thread(create_and_remove_a_file)

    async def close(self) -> None:
        """Wait for running I/O to finish and stop the thread pool."""
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    async def _in_thread(
        self, blocking: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        call = functools.partial(blocking, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)


def _delete_tree(top: Path) -> int:
    """Delete the files under `top`, then its directories; return how many files went."""
    deleted = 0
    for dirpath, _, filenames in os.walk(top, topdown=False):
        for filename in filenames:
            Path(dirpath, filename).unlink(missing_ok=True)
            deleted += 1
        _remove_if_empty(Path(dirpath))
    return deleted


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError as exc:
        # Not empty: a writer committed into it meanwhile, and its object survives as it should.
        if exc.errno not in (errno.ENOTEMPTY, errno.ENOENT):
            raise
