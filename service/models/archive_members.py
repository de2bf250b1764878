"""The rules a member of an untrusted tar must pass before any of its bytes is used.

Shared by the import of an adapter (``service.models.adapter_archive``, server side) and by
``ftapi models download`` (``cli.client.archives``, which treats the server's archive as
hostile too): only plain relative names, never ``..``, an absolute path or a backslash, and
only regular files (directories where the reader allows them). Links, devices, fifos and every
other kind are refused by type, before a byte is read.
"""

from __future__ import annotations

import tarfile
from pathlib import PurePosixPath

# Weights (or anything else) in Python's pickle format, by name: never loaded, never stored.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def member_path_problem(name: str) -> str | None:
    """Why ``name`` is not a plain relative path inside the archive's root, or None."""
    path = PurePosixPath(name)
    if path.is_absolute() or "\\" in name or "\0" in name:
        return f"refusing {name!r}: not a plain relative path"
    if ".." in path.parts:
        return f"refusing {name!r}: it climbs out of the archive's root"
    return None


def member_type_problem(member: tarfile.TarInfo, *, directories: bool) -> str | None:
    """Why ``member``'s kind is refused (only regular files, and directories if allowed)."""
    if member.isreg() or (directories and member.isdir()):
        return None
    kind = (
        "a symbolic link"
        if member.issym()
        else "a hard link"
        if member.islnk()
        else "a device"
        if member.ischr() or member.isblk()
        else "a fifo"
        if member.isfifo()
        else "not a regular file"
    )
    return f"refusing {member.name!r}: {kind}"
