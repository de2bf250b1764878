"""Directories in the blob store: files first, then ``manifest.json`` as the commit marker.

Checkpoints and published adapters are directories. A reader trusts only a prefix whose manifest
exists, and checks every file's size and sha256 against it, so a half-written directory is never
used and a corrupted file is caught.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from service.blobstore.errors import BlobNotFound
from service.blobstore.keys import validate_key
from service.blobstore.protocol import BlobStore

MANIFEST_NAME = "manifest.json"
_CHUNK_BYTES = 1 << 20


class CorruptDirectory(Exception):
    """A stored file does not match its manifest."""


async def upload_directory(
    blobs: BlobStore, prefix: str, local_dir: Path, *, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Store every file under ``local_dir`` below ``prefix``, then the manifest; returns it."""
    files: dict[str, dict[str, Any]] = {}
    paths = await asyncio.to_thread(lambda: sorted(p for p in local_dir.rglob("*") if p.is_file()))
    for path in paths:
        name = path.relative_to(local_dir).as_posix()
        if name == MANIFEST_NAME:
            continue
        info = await blobs.put_stream(validate_key(prefix + name), _read_file(path))
        files[name] = {"bytes": info.size_bytes, "sha256": info.sha256}
    manifest = {"files": files} | (extra or {})
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    await blobs.put_stream(prefix + MANIFEST_NAME, _once(body))
    return manifest


async def read_manifest(blobs: BlobStore, prefix: str) -> dict[str, Any] | None:
    """The committed manifest under ``prefix``, or None when there is none (yet)."""
    try:
        body = b"".join([chunk async for chunk in blobs.read_stream(prefix + MANIFEST_NAME)])
    except BlobNotFound:
        return None
    manifest: dict[str, Any] = json.loads(body)
    return manifest


async def download_directory(blobs: BlobStore, prefix: str, local_dir: Path) -> dict[str, Any]:
    """Fetch a committed directory into ``local_dir``, checking every file against it."""
    manifest = await read_manifest(blobs, prefix)
    if manifest is None:
        raise BlobNotFound(prefix + MANIFEST_NAME)
    for name, expected in manifest["files"].items():
        target = local_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with target.open("wb") as out:
            async for chunk in blobs.read_stream(validate_key(prefix + name)):
                digest.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(out.write, chunk)
        if size != expected["bytes"] or digest.hexdigest() != expected["sha256"]:
            raise CorruptDirectory(f"{prefix}{name} does not match its manifest")
    return manifest


async def download_file(blobs: BlobStore, key: str, target: Path) -> int:
    """Fetch one object into ``target``; returns its size."""
    size = 0
    with target.open("wb") as out:
        async for chunk in blobs.read_stream(key):
            size += len(chunk)
            await asyncio.to_thread(out.write, chunk)
    return size


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, _CHUNK_BYTES):
            yield chunk


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body
