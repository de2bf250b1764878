"""Object storage for file bodies, upload parts, checkpoints and adapters.

One interface (`BlobStore`), two implementations (`LocalBlobStore`, `S3BlobStore`), one module
that builds every key (`keys`). Objects appear only when whole, and every write reports the
size, sha256 and md5 it computed on the way through.
"""

from service.blobstore.errors import (
    BlobNotFound,
    BlobStoreFull,
    BlobStoreUnavailable,
    InvalidBlobKey,
)
from service.blobstore.factory import BlobBackend, create_blob_store
from service.blobstore.local import LocalBlobStore
from service.blobstore.protocol import BlobInfo, BlobStore, BlobWriter
from service.blobstore.s3 import S3BlobStore
from service.blobstore.s3_config import S3Config

__all__ = [
    "BlobBackend",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobStoreFull",
    "BlobStoreUnavailable",
    "BlobWriter",
    "InvalidBlobKey",
    "LocalBlobStore",
    "S3BlobStore",
    "S3Config",
    "create_blob_store",
]
