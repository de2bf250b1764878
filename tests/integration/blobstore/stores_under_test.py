"""What the blob store tests share: the store under test, its S3 settings, its contents."""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from service.blobstore import BlobStore, S3Config
from service.blobstore.s3_config import MIN_PART_SIZE_BYTES
from tests.support.moto_server import MotoS3Server

# The smallest part S3 allows, so tests reach the multipart path with ~11 MiB objects.
TEST_PART_SIZE_BYTES = MIN_PART_SIZE_BYTES


@dataclass
class StoreUnderTest:
    """A blob store plus a backend-specific view of everything it has stored.

    `stored()` lists committed objects *and* partial writes (local temp files, S3 multipart
    uploads in progress), so a test can assert that nothing was left behind.
    """

    backend: str
    store: BlobStore
    stored: Callable[[], list[str]]


def s3_config_for(server: MotoS3Server, bucket: str, **overrides: object) -> S3Config:
    """An S3Config pointing at `bucket` on the moto server, with the smallest part size."""
    settings: dict[str, object] = {
        "bucket": bucket,
        "endpoint_url": server.endpoint_url,
        "region": server.region,
        "path_style": True,
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "part_size_bytes": TEST_PART_SIZE_BYTES,
        **overrides,
    }
    return S3Config(**settings)  # type: ignore[arg-type]


def files_under(root: Path) -> list[str]:
    """Every file below `root` (the local store's objects and temp files), as relative paths."""
    return sorted(
        str(Path(dirpath, name).relative_to(root))
        for dirpath, _, filenames in os.walk(root)
        for name in filenames
    )


def bucket_contents(server: MotoS3Server, bucket: str) -> list[str]:
    """Every object key in `bucket`, plus one entry per multipart upload in progress."""
    client = server.client()
    objects = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return sorted(
        [item["Key"] for item in objects]
        + [f"multipart-upload-in-progress:{item['Key']}" for item in uploads]
    )
