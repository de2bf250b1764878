"""Client filenames are metadata: reduce them to a safe display name, never a path."""

from __future__ import annotations

import unicodedata

_MAX_FILENAME_CHARS = 255
_MAX_KEPT_EXTENSION_CHARS = 16
_FALLBACK_NAME = "upload"


def sanitize_filename(raw: str | None) -> str:
    """The last path component, without control characters, trimmed to 255 characters."""
    if not raw:
        return _FALLBACK_NAME
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = _shortened("".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip())
    if name in {"", ".", ".."}:
        return _FALLBACK_NAME
    return name


def _shortened(name: str) -> str:
    """At most 255 characters, keeping a short extension: the ``.jsonl`` rule must still see it."""
    if len(name) <= _MAX_FILENAME_CHARS:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and stem and len(ext) <= _MAX_KEPT_EXTENSION_CHARS else ""
    return name[: _MAX_FILENAME_CHARS - len(suffix)].rstrip() + suffix


def extension_of(filename: str) -> str | None:
    """The lower-cased extension (``.jsonl``), or None when the name has none."""
    stem, dot, ext = filename.rpartition(".")
    return f".{ext.lower()}" if dot and stem and ext else None
