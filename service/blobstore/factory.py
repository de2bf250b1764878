"""Builds the configured BlobStore; the settings layer maps its storage group onto this."""

from pathlib import Path
from typing import Literal

from service.blobstore.local import LocalBlobStore
from service.blobstore.protocol import BlobStore
from service.blobstore.s3 import S3BlobStore
from service.blobstore.s3_config import S3Config

BlobBackend = Literal["local", "s3"]


def create_blob_store(
    *,
    backend: BlobBackend,
    local_root: Path | None = None,
    s3: S3Config | None = None,
) -> BlobStore:
    """Return the blob store for `backend`.

    `local`: a directory store on `local_root`, created if missing (so the embedded default
    works on a fresh machine). `s3`: a bucket described by `s3`; the bucket must exist.
    Both do a little blocking I/O, so call this at start-up, not per request.
    """
    if backend == "local":
        if local_root is None:
            raise ValueError("the local blob store needs local_root")
        local_root.mkdir(parents=True, exist_ok=True)
        return LocalBlobStore(local_root)
    if backend == "s3":
        if s3 is None:
            raise ValueError("the s3 blob store needs an S3Config")
        return S3BlobStore(s3)
    raise ValueError(f"unknown blob store backend {backend!r}: expected 'local' or 's3'")
