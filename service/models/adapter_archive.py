"""Reading an adapter out of an uploaded tar that may be hostile, with every size bounded.

The archive is a plain tar or a gzipped one (``.tar.gz``), holding a peft adapter directory at
its root or inside one top-level directory: ``adapter_config.json`` and
``adapter_model.safetensors``, and optionally what peft and ``ftapi models download`` write
beside them (``README.md``, the tokenizer, ``checksums``). Only the two adapter files are kept:
they are copied, under their fixed names, into a directory of the caller's; everything else is
read (hashed, checked) and dropped. Nothing is extracted by the archive's own names.

Refused, before anything is kept (``HostileArchive``):

- members that are not regular files or directories (symlinks, hard links, devices, fifos),
  names that are absolute, hold ``..`` or a backslash, and nesting deeper than one directory;
- more than ``max_members`` members, a member larger than its kind allows, the same name twice;
- pickles: names ending ``.bin``/``.pt``/``.pth``/``.pkl``/``.pickle``/``.ckpt``, and files
  whose bytes start as a pickle (``\\x80`` + protocol 2-5) or a zip (``torch.save``'s format);
- a gzip stream that inflates past ``max_archive_bytes`` or more than ``max_ratio`` times its
  compressed size (a compression bomb), and tar metadata records (pax headers, GNU long
  names) over 1 MiB, which ``tarfile`` would read whole;
- a ``checksums`` file (``sha256sum`` format) that a listed file does not match.

Memory stays bounded: the archive is read from a file (the caller spools the upload to one),
members in 1 MiB chunks. Runs synchronously; callers use a thread.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from service.models.adapters import ADAPTER_CONFIG_NAME, ADAPTER_FILE_NAMES, ADAPTER_WEIGHTS_NAME
from service.models.archive_members import (
    PICKLE_SUFFIXES,
    member_path_problem,
    member_type_problem,
)

CHECKSUMS_NAME = "checksums"
_CHUNK_BYTES = 1 << 20
# tarfile reads a pax header or a GNU long name whole: a larger one is a memory bomb.
_MAX_METADATA_READ_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
# Other compressions are refused by name rather than read as a garbled tar.
_OTHER_COMPRESSIONS = {b"BZh": "bzip2", b"\xfd7zXZ": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
_PICKLE_PROTOCOL_BYTES = frozenset(range(2, 6))
_ZIP_MAGIC = b"PK\x03\x04"


class HostileArchive(ValueError):
    """The archive breaks a rule of the module docstring; the message names which."""


@dataclass(frozen=True)
class ArchiveLimits:
    """What an import archive may hold at most."""

    max_archive_bytes: int = 2 << 30  # the tar itself, after decompression
    max_members: int = 64
    max_weights_bytes: int = 2 << 30  # adapter_model.safetensors
    max_other_bytes: int = 32 << 20  # the config, tokenizer files, the card, checksums
    max_ratio: int = 100  # decompressed / compressed, past the first MiB


@dataclass(frozen=True)
class ArchiveContents:
    """What was read: the member names (regular files) and each one's sha256."""

    files: dict[str, str]


def read_adapter_archive(
    archive: BinaryIO, target: Path, limits: ArchiveLimits | None = None
) -> ArchiveContents:
    """Copy the adapter files of ``archive`` (a seekable file, at offset 0) into ``target``
    (an existing, empty directory of the caller's); ``HostileArchive`` on any rule broken."""
    limits = limits or ArchiveLimits()
    magic = archive.read(6)
    archive.seek(0)
    for prefix, name in _OTHER_COMPRESSIONS.items():
        if magic.startswith(prefix):
            raise HostileArchive(f"{name}-compressed archives are not accepted: use tar or tar.gz")
    if magic.startswith(_GZIP_MAGIC):
        with _inflated(archive, limits) as tar_file:
            return _read_tar(tar_file, target, limits)
    return _read_tar(archive, target, limits)


@contextmanager
def _inflated(archive: BinaryIO, limits: ArchiveLimits) -> Iterator[BinaryIO]:
    """A temporary file holding the decompressed tar, bounded in size and ratio."""
    ceiling = min(limits.max_archive_bytes, _CHUNK_BYTES + limits.max_ratio * _size_of(archive))
    with tempfile.TemporaryFile() as spool:
        written = 0
        try:
            with gzip.GzipFile(fileobj=archive, mode="rb") as stream:
                while chunk := stream.read(_CHUNK_BYTES):
                    written += len(chunk)
                    if written > ceiling:
                        raise HostileArchive(
                            f"the gzip stream inflates past {ceiling} bytes (at most "
                            f"{limits.max_archive_bytes}, and at most {limits.max_ratio}x its "
                            "compressed size): refused as a compression bomb"
                        )
                    spool.write(chunk)
        except (OSError, EOFError, zlib.error) as exc:
            raise HostileArchive(f"the gzip stream is corrupt ({exc})") from None
        spool.seek(0)
        yield spool


class _GuardedReader(io.RawIOBase):
    """The tar's bytes for ``tarfile``, refusing the one read it makes unbounded (a metadata
    record's body) when that record is implausibly large."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > _MAX_METADATA_READ_BYTES:
            raise HostileArchive(
                f"a tar record of {size} bytes is read whole: refusing records over "
                f"{_MAX_METADATA_READ_BYTES} bytes"
            )
        return self._source.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._source.seek(offset, whence)

    def tell(self) -> int:
        return self._source.tell()


def _read_tar(source: BinaryIO, target: Path, limits: ArchiveLimits) -> ArchiveContents:
    size = _size_of(source)
    if size > limits.max_archive_bytes:
        raise HostileArchive(f"the archive is {size} bytes: at most {limits.max_archive_bytes}")
    reader = _GuardedReader(source)
    digests: dict[str, str] = {}
    kept: dict[str, str] = {}  # adapter file name -> the member it came from
    checksums: bytes | None = None
    try:
        with tarfile.open(fileobj=reader, mode="r:") as tar:
            count = 0
            while (member := tar.next()) is not None:
                count += 1
                if count > limits.max_members:
                    raise HostileArchive(f"the archive has more than {limits.max_members} members")
                name = _checked_name(member)
                if name is None:
                    continue  # a directory entry
                if name in digests:
                    raise HostileArchive(f"refusing {member.name!r}: the name appears twice")
                basename = PurePosixPath(name).name
                is_weights = basename == ADAPTER_WEIGHTS_NAME
                cap = limits.max_weights_bytes if is_weights else limits.max_other_bytes
                if member.size > cap:
                    raise HostileArchive(
                        f"refusing {member.name!r}: {member.size} bytes, at most {cap} for it"
                    )
                keep = target / basename if basename in ADAPTER_FILE_NAMES else None
                if keep is not None and basename in kept:
                    raise HostileArchive(
                        f"refusing {member.name!r}: a second {basename} (first {kept[basename]!r})"
                    )
                body, digest = _copy_member(tar, member, keep, check_magic=not is_weights)
                digests[name] = digest
                if keep is not None:
                    kept[basename] = name
                if basename == CHECKSUMS_NAME:
                    checksums = body
    except tarfile.TarError as exc:
        raise HostileArchive(f"not a readable tar archive ({exc})") from None
    _check_layout(kept)
    if checksums is not None:
        _verify_checksums(checksums, digests)
    return ArchiveContents(files=digests)


def _checked_name(member: tarfile.TarInfo) -> str | None:
    """The member's normalised name, None for a directory; ``HostileArchive`` if refused."""
    problem = member_path_problem(member.name) or member_type_problem(member, directories=True)
    if problem is not None:
        raise HostileArchive(problem)
    parts = PurePosixPath(member.name).parts
    if member.isdir():
        if len(parts) > 1:
            raise HostileArchive(
                f"refusing {member.name!r}: directories nest at most one level (the adapter "
                "at the root, or in one top-level directory)"
            )
        return None
    if not parts or len(parts) > 2:
        raise HostileArchive(
            f"refusing {member.name!r}: files sit at the root or in one top-level directory"
        )
    if parts[-1].lower().endswith(PICKLE_SUFFIXES):
        raise HostileArchive(f"refusing {member.name!r}: pickled files are never accepted")
    return "/".join(parts)


def _copy_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, keep: Path | None, *, check_magic: bool
) -> tuple[bytes | None, str]:
    """Read a member in chunks: hash it, copy it to ``keep`` if given, and return its bytes when
    it is small enough to be the ``checksums`` file."""
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - regular files always have a body
        raise HostileArchive(f"refusing {member.name!r}: it has no body")
    digest = hashlib.sha256()
    small = bytearray()
    read = 0
    out = keep.open("wb") if keep is not None else None
    try:
        while chunk := source.read(min(_CHUNK_BYTES, member.size - read)):
            if read == 0 and check_magic and _looks_pickled(chunk):
                raise HostileArchive(f"refusing {member.name!r}: its bytes are a pickle or a zip")
            read += len(chunk)
            digest.update(chunk)
            if read <= _MAX_METADATA_READ_BYTES:
                small += chunk
            if out is not None:
                out.write(chunk)
            if read >= member.size:
                break
    finally:
        if out is not None:
            out.close()
    if read != member.size:
        raise HostileArchive(f"refusing {member.name!r}: the archive ends inside it")
    return (bytes(small) if read <= _MAX_METADATA_READ_BYTES else None), digest.hexdigest()


def _looks_pickled(head: bytes) -> bool:
    pickled = len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOL_BYTES
    return pickled or head.startswith(_ZIP_MAGIC)


def _check_layout(kept: dict[str, str]) -> None:
    missing = sorted(ADAPTER_FILE_NAMES - set(kept))
    if missing:
        raise HostileArchive(
            f"the archive holds no {' or '.join(missing)}: it must hold a peft adapter "
            f"({ADAPTER_CONFIG_NAME} and {ADAPTER_WEIGHTS_NAME}), at its root or in one "
            "top-level directory"
        )
    directories = {str(PurePosixPath(name).parent) for name in kept.values()}
    if len(directories) > 1:
        raise HostileArchive("the adapter's files are in different directories")


def _verify_checksums(listing: bytes, digests: dict[str, str]) -> None:
    """Every file ``checksums`` lists is in the archive, with that sha256 (names relative to
    the directory ``checksums`` sits in)."""
    checksums_name = next(n for n in digests if PurePosixPath(n).name == CHECKSUMS_NAME)
    directory = PurePosixPath(checksums_name).parent
    try:
        lines = listing.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise HostileArchive(f"{CHECKSUMS_NAME} is not UTF-8 text") from None
    for line in lines:
        digest, separator, listed = line.partition("  ")
        if not separator or len(digest) != 64:
            raise HostileArchive(f"{CHECKSUMS_NAME} has a malformed line: {line[:200]!r}")
        name = str(directory / listed.removeprefix("*")).removeprefix("./")
        if digests.get(name) != digest.lower():
            raise HostileArchive(
                f"{listed!r} does not match its sha256 in {CHECKSUMS_NAME} (or is missing)"
            )


def _size_of(handle: BinaryIO) -> int:
    position = handle.tell()
    size = handle.seek(0, io.SEEK_END)
    handle.seek(position)
    return size
