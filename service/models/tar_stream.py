"""A tar archive written as a stream: blobs go in chunk by chunk, never whole.

A tar header must state its member's size, so every member is known before the first byte:
blobs by the size their manifest records, local files by ``stat``, small generated files by
their bytes. The archive's total length follows (``archive_size``), so a response can send
``Content-Length``. Each blob is hashed as it streams and checked against the sha256 it was
committed with: a stored file that changed under its manifest ends the stream with an error
instead of reaching the archive.
"""

from __future__ import annotations

import asyncio
import hashlib
import tarfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from service.blobstore.directories import CorruptDirectory
from service.blobstore.protocol import DEFAULT_READ_CHUNK_BYTES, BlobStore

BLOCK_BYTES = tarfile.BLOCKSIZE  # 512: members and headers are padded to whole blocks
_END_OF_ARCHIVE = b"\0" * (2 * BLOCK_BYTES)


@dataclass(frozen=True)
class BytesMember:
    """A small file generated for the archive (a config, the model card, checksums)."""

    name: str
    data: bytes

    @property
    def size_bytes(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class BlobMember:
    """A stored object, streamed from the blob store and checked against its sha256."""

    name: str
    key: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class FileMember:
    """A file on this machine (a base model's tokenizer file), read in chunks."""

    name: str
    path: Path
    size_bytes: int


TarMember = BytesMember | BlobMember | FileMember


def archive_size(members: Sequence[TarMember]) -> int:
    """The exact length in bytes of the archive ``stream_tar`` writes for ``members``."""
    return sum(BLOCK_BYTES + _padded(m.size_bytes) for m in members) + len(_END_OF_ARCHIVE)


async def stream_tar(
    members: Sequence[TarMember],
    blobs: BlobStore,
    *,
    mtime: int,
    chunk_bytes: int = DEFAULT_READ_CHUNK_BYTES,
) -> AsyncIterator[bytes]:
    """The archive of ``members`` (regular files, mode 0644, dated ``mtime``), in chunks of at
    most ``chunk_bytes`` for file bodies."""
    for member in members:
        yield _header(member.name, member.size_bytes, mtime)
        if isinstance(member, BytesMember):
            body: AsyncIterator[bytes] = _bytes_chunks(member.data, chunk_bytes)
        elif isinstance(member, BlobMember):
            body = _blob_chunks(blobs, member, chunk_bytes)
        else:
            body = _file_chunks(member, chunk_bytes)
        async for chunk in body:
            yield chunk
        if padding := _padded(member.size_bytes) - member.size_bytes:
            yield b"\0" * padding
    yield _END_OF_ARCHIVE


def _header(name: str, size_bytes: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size_bytes
    info.mode = 0o644
    info.mtime = mtime
    info.type = tarfile.REGTYPE
    # USTAR: every tar reader knows it; names here are short, fixed file names.
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _padded(size_bytes: int) -> int:
    return -(-size_bytes // BLOCK_BYTES) * BLOCK_BYTES


async def _bytes_chunks(data: bytes, chunk_bytes: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk_bytes):
        yield data[start : start + chunk_bytes]


async def _blob_chunks(
    blobs: BlobStore, member: BlobMember, chunk_bytes: int
) -> AsyncIterator[bytes]:
    digest = hashlib.sha256()
    sent = 0
    async for chunk in blobs.read_stream(member.key, chunk_size_bytes=chunk_bytes):
        sent += len(chunk)
        if sent > member.size_bytes:
            raise CorruptDirectory(f"{member.key} is longer than its manifest says")
        digest.update(chunk)
        yield chunk
    if sent != member.size_bytes or digest.hexdigest() != member.sha256:
        raise CorruptDirectory(f"{member.key} does not match its manifest")


async def _file_chunks(member: FileMember, chunk_bytes: int) -> AsyncIterator[bytes]:
    sent = 0
    with member.path.open("rb") as handle:  # opening is instant; each read runs in a thread
        while sent < member.size_bytes:
            chunk = await asyncio.to_thread(handle.read, min(chunk_bytes, member.size_bytes - sent))
            if not chunk:
                raise OSError(f"{member.path} shrank while it was archived")
            sent += len(chunk)
            yield chunk
