"""Where a committed directory keeps its adapter: the blob key, size and sha256 of each file.

A published model keeps ``adapter_config.json`` and ``adapter_model.safetensors`` at the top of
its prefix; a checkpoint keeps them in ``adapter/`` beside its optimizer state. Serving (the
agent's cache) and downloads read the same two files the same way, from the prefix's manifest
(``service.blobstore.directories``), so both trust exactly what was committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.models.adapters import ADAPTER_CONFIG_NAME, ADAPTER_FILE_NAMES

# Where an adapter sits inside a committed directory: a published model keeps it at the top, a
# checkpoint in ``adapter/`` beside its optimizer state (which serving never downloads).
ADAPTER_SUBDIRS = ("", "adapter/")


class AdapterFilesMissing(ValueError):
    """The manifest under a prefix lists no complete adapter."""


@dataclass(frozen=True)
class AdapterBlob:
    """One adapter file as its manifest records it."""

    name: str  # the file's name in an adapter directory (no subdirectory)
    key: str  # its blob key
    size_bytes: int
    sha256: str


def adapter_blobs(manifest: dict[str, Any], prefix: str) -> list[AdapterBlob]:
    """The adapter files of the committed directory under ``prefix``, sorted by name."""
    listed: dict[str, dict[str, Any]] = manifest.get("files", {})
    for subdir in ADAPTER_SUBDIRS:
        if subdir + ADAPTER_CONFIG_NAME in listed:
            missing = sorted(n for n in ADAPTER_FILE_NAMES if subdir + n not in listed)
            if missing:
                raise AdapterFilesMissing(f"the adapter under {prefix} lacks {missing}")
            return [
                AdapterBlob(
                    name=name,
                    key=prefix + subdir + name,
                    size_bytes=int(listed[subdir + name]["bytes"]),
                    sha256=str(listed[subdir + name]["sha256"]),
                )
                for name in sorted(ADAPTER_FILE_NAMES)
            ]
    raise AdapterFilesMissing(f"no {ADAPTER_CONFIG_NAME} under {prefix}")
