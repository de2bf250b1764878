"""Sending a local file to the Files API: whole in one request, or through the Uploads API.

A file above the threshold goes as an upload (create, parts of ``part_bytes``, complete with the
md5 of the whole), so no single request is larger than a part: proxies with body limits pass it,
and a failure costs one part rather than the whole file. A failed upload is cancelled.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from cli.client.connection import ApiClient, ApiError
from cli.client.progress import TransferProgress
from cli.client.units import parse_size

JSONL_MIME_TYPE = "application/jsonl"
DEFAULT_PART_SIZE = "16MiB"
DEFAULT_UPLOADS_THRESHOLD = "64MiB"
DEFAULT_PART_BYTES = parse_size(DEFAULT_PART_SIZE)
DEFAULT_UPLOADS_THRESHOLD_BYTES = parse_size(DEFAULT_UPLOADS_THRESHOLD)
# The Uploads API takes parts of at most 64 MB.
MAX_PART_BYTES = 64 * 1024 * 1024


class FileSlice:
    """A read-only window of an open binary file, for httpx's multipart encoder.

    Each byte is passed to ``on_new_bytes`` once, the first time it is read, even if the encoder
    rewinds (httpx seeks to 0 before sending and to the end to measure the length).
    """

    def __init__(
        self,
        handle: BinaryIO,
        start: int,
        length: int,
        on_new_bytes: Callable[[bytes], None],
    ) -> None:
        self._handle = handle
        self._start = start
        self._length = length
        self._on_new_bytes = on_new_bytes
        self._position = 0
        self._high_water = 0

    def read(self, size: int = -1) -> bytes:
        left = self._length - self._position
        wanted = left if size < 0 else min(size, left)
        if wanted <= 0:
            return b""
        self._handle.seek(self._start + self._position)
        data = self._handle.read(wanted)
        end = self._position + len(data)
        if end > self._high_water:
            self._on_new_bytes(data[self._high_water - self._position :])
            self._high_water = end
        self._position = end
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._length}[whence]
        self._position = max(0, min(self._length, base + offset))
        return self._position

    def tell(self) -> int:
        return self._position


def upload_file(
    api: ApiClient,
    path: Path,
    purpose: str,
    progress: TransferProgress,
    *,
    uploads_threshold_bytes: int = DEFAULT_UPLOADS_THRESHOLD_BYTES,
    part_bytes: int = DEFAULT_PART_BYTES,
) -> dict[str, Any]:
    """Send ``path``; the created File object."""
    size = path.stat().st_size
    if size > uploads_threshold_bytes:
        return _upload_in_parts(api, path, purpose, size, part_bytes, progress)
    with path.open("rb") as handle:
        body = FileSlice(handle, 0, size, lambda data: progress.advance(len(data)))
        return api.post(
            "files",
            data={"purpose": purpose},
            files={"file": (path.name, body, JSONL_MIME_TYPE)},
        )


def _upload_in_parts(
    api: ApiClient,
    path: Path,
    purpose: str,
    size: int,
    part_bytes: int,
    progress: TransferProgress,
) -> dict[str, Any]:
    upload = api.post(
        "uploads",
        json={
            "filename": path.name,
            "purpose": purpose,
            "bytes": size,
            "mime_type": JSONL_MIME_TYPE,
        },
    )
    upload_id = upload["id"]
    digest = hashlib.md5(usedforsecurity=False)

    def sent(data: bytes) -> None:
        digest.update(data)
        progress.advance(len(data))

    try:
        part_ids = []
        with path.open("rb") as handle:
            for start in range(0, size, part_bytes):
                part = FileSlice(handle, start, min(part_bytes, size - start), sent)
                answer = api.post(
                    f"uploads/{upload_id}/parts",
                    files={"data": ("part", part, "application/octet-stream")},
                )
                part_ids.append(answer["id"])
        completed = api.post(
            f"uploads/{upload_id}/complete",
            json={"part_ids": part_ids, "md5": digest.hexdigest()},
        )
    except BaseException:
        with contextlib.suppress(ApiError, httpx.HTTPError):
            api.post(f"uploads/{upload_id}/cancel")
        raise
    file_object: dict[str, Any] = completed["file"]
    return file_object
