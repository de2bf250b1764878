"""Unpacking a downloaded model archive safely, checking it against its ``checksums``, and
packing an adapter directory for ``ftapi models import``.

The archive comes from a server, so it is treated as hostile: only regular files with plain
relative names are written (absolute paths, ``..``, links, devices and anything else are
refused before a byte lands, by the rules the server applies to imports:
``service.models.archive_members``), each inside the target directory. Every file must then
match the sha256 that ``checksums`` (``sha256sum -c`` format) lists for it, and every file must
be listed.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from service.models.adapters import ADAPTER_FILE_NAMES
from service.models.archive_members import member_path_problem, member_type_problem

CHECKSUMS_NAME = "checksums"
_CHUNK_BYTES = 1 << 20


class UnsafeArchive(ValueError):
    """The archive holds a member that must not be extracted, or does not match its checksums."""


def extract_model_archive(archive: Path, target: Path) -> list[str]:
    """Extract ``archive`` into ``target`` (created if needed) and verify ``checksums``; returns
    the names of the files written."""
    with tarfile.open(archive, mode="r:") as tar:
        members = tar.getmembers()
        for member in members:
            _check_member(member)
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for member in members:
            destination = target.joinpath(*PurePosixPath(member.name).parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:  # pragma: no cover - regular files always have a body
                raise UnsafeArchive(f"{member.name} has no contents")
            with source, destination.open("wb") as out:
                shutil.copyfileobj(source, out, _CHUNK_BYTES)
            written.append(member.name)
    verify_checksums(target, written)
    return written


def verify_checksums(directory: Path, names: list[str]) -> None:
    """Every file of ``names`` but ``checksums`` matches the sha256 ``checksums`` lists."""
    listing = directory / CHECKSUMS_NAME
    if CHECKSUMS_NAME not in names:
        raise UnsafeArchive(f"the archive has no {CHECKSUMS_NAME} file")
    expected: dict[str, str] = {}
    for line in listing.read_text(encoding="utf-8").splitlines():
        digest, separator, name = line.partition("  ")
        if not separator or len(digest) != 64:
            raise UnsafeArchive(f"{CHECKSUMS_NAME} has a malformed line: {line!r}")
        expected[name] = digest
    unlisted = sorted(set(names) - set(expected) - {CHECKSUMS_NAME})
    if unlisted:
        raise UnsafeArchive(f"files not in {CHECKSUMS_NAME}: {', '.join(unlisted)}")
    for name, digest in expected.items():
        if name not in names:
            raise UnsafeArchive(f"{name} is listed in {CHECKSUMS_NAME} but not in the archive")
        if _sha256(directory.joinpath(*PurePosixPath(name).parts)) != digest:
            raise UnsafeArchive(f"{name} does not match its sha256 in {CHECKSUMS_NAME}")


def _check_member(member: tarfile.TarInfo) -> None:
    problem = member_type_problem(member, directories=False) or member_path_problem(member.name)
    if problem is None and not PurePosixPath(member.name).parts:
        problem = f"refusing {member.name!r}: an empty name"
    if problem is not None:
        raise UnsafeArchive(problem)


def pack_adapter_directory(directory: Path, archive: Path) -> list[str]:
    """Write ``directory``'s ``adapter_config.json`` and ``adapter_model.safetensors`` into the
    tar ``archive``: all an import keeps, so a trainer's output directory (optimizer state and
    training arguments, pickled) can be given as it is. Returns the names written."""
    names = sorted(ADAPTER_FILE_NAMES)
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise UnsafeArchive(f"{directory} has no {' or '.join(missing)}: not a peft adapter")
    with tarfile.open(archive, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in names:
            path = directory / name
            if path.is_symlink():
                raise UnsafeArchive(f"{path} is a symbolic link: give the file itself")
            tar.add(path, arcname=name, recursive=False)
    return names


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
