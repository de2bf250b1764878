"""Blob store on any S3-compatible service (AWS S3, MinIO, R2, Ceph RGW, ...) through boto3.

boto3 is synchronous, so every call runs in the store's own thread pool, never on the event
loop. A write smaller than one part at commit is a single PutObject; a larger one is a real
multipart upload, completed on commit and aborted on abort() or failure. Either way the object
is visible only when whole. Multipart uploads orphaned by a crashed process are not visible
and are best reaped by a bucket lifecycle rule (AbortIncompleteMultipartUpload).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import boto3
from botocore.config import Config as BotocoreConfig
from botocore.exceptions import BotoCoreError, ClientError

from service.blobstore.errors import (
    BlobNotFound,
    BlobStoreFull,
    BlobStoreUnavailable,
    InvalidBlobKey,
)
from service.blobstore.keys import validate_key, validate_prefix
from service.blobstore.protocol import (
    DEFAULT_READ_CHUNK_BYTES,
    AbandonedWrite,
    BlobInfo,
    require_positive_chunk_size,
)
from service.blobstore.s3_config import S3Config
from service.blobstore.write_behind import WriteBehindBlobWriter

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, ObjectIdentifierTypeDef

# /readyz wants a quick, single answer: the probe neither retries nor waits long.
PING_TIMEOUT_S = 3.0
# Answers that mean "this store is down or misconfigured" rather than "this request is wrong".
_UNAVAILABLE_ERROR_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidToken",
        "NoSuchBucket",
        "SignatureDoesNotMatch",
    }
)
_NOT_FOUND_ERROR_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_SUCH_UPLOAD_ERROR_CODES = frozenset({"404", "NoSuchUpload"})
# Answers that mean "no space left": MinIO's full drives and bucket quota, Ceph RGW's quota.
# Size limits on one request (EntityTooLarge) are the caller's problem, not the store's.
_NO_SPACE_ERROR_CODES = frozenset(
    {"XMinioStorageFull", "XMinioAdminBucketQuotaExceeded", "QuotaExceeded"}
)
_INSUFFICIENT_STORAGE = 507

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_not_found(exc: ClientError) -> bool:
    return _error_code(exc) in _NOT_FOUND_ERROR_CODES


def _means_no_space(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return _error_code(exc) in _NO_SPACE_ERROR_CODES or status == _INSUFFICIENT_STORAGE


def _means_unavailable(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return _error_code(exc) in _UNAVAILABLE_ERROR_CODES or status == 403 or status >= 500


class S3BlobWriter(WriteBehindBlobWriter):
    """Writes one object as a PutObject or, once it outgrows a part, a multipart upload."""

    def __init__(
        self,
        key: str,
        *,
        object_key: str,
        store: S3BlobStore,
        part_size_bytes: int,
        executor: ThreadPoolExecutor,
        md5: bool = False,
    ) -> None:
        super().__init__(key, flush_threshold_bytes=part_size_bytes, executor=executor, md5=md5)
        self._object_key = object_key
        self._store = store
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []

    def _write_buffer_sync(self, data: bytes | bytearray) -> None:
        client, bucket = self._store.client, self._store.bucket
        with self._store.translated_errors():
            if self._upload_id is None:
                created = client.create_multipart_upload(Bucket=bucket, Key=self._object_key)
                self._upload_id = created["UploadId"]
            self._upload_part_sync(self._upload_id, data)

    def _upload_part_sync(self, upload_id: str, data: bytes | bytearray) -> None:
        part_number = len(self._parts) + 1
        uploaded = self._store.client.upload_part(
            Bucket=self._store.bucket,
            Key=self._object_key,
            UploadId=upload_id,
            PartNumber=part_number,
            Body=bytes(data),  # the stubs refuse bytearray; an 8 MiB copy is cheap next to a PUT
        )
        self._parts.append({"ETag": uploaded["ETag"], "PartNumber": part_number})

    def _commit_sync(self, tail: bytes | bytearray) -> None:
        client, bucket = self._store.client, self._store.bucket
        with self._store.translated_errors():
            if self._upload_id is None:
                client.put_object(Bucket=bucket, Key=self._object_key, Body=bytes(tail))
                return
            if tail:
                self._upload_part_sync(self._upload_id, tail)
            client.complete_multipart_upload(
                Bucket=bucket,
                Key=self._object_key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
            self._upload_id = None  # completed: nothing left to abort

    def _discard_sync(self) -> None:
        if self._upload_id is None:
            return
        with self._store.translated_errors():
            try:
                self._store.client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self._object_key, UploadId=self._upload_id
                )
            except ClientError as exc:
                if _error_code(exc) != "NoSuchUpload":  # already gone is what we wanted
                    raise
        self._upload_id = None


class S3BlobStore:
    """BlobStore on one bucket of an S3-compatible service, under an optional key prefix.

    Construction creates the boto3 clients (a little blocking I/O): do it at start-up.
    """

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.bucket = config.bucket
        stripped_prefix = config.key_prefix.strip("/")
        self._key_prefix = f"{stripped_prefix}/" if stripped_prefix else ""
        session = boto3.session.Session(
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            aws_session_token=config.session_token,
            region_name=config.region,
        )
        self.client: S3Client = session.client(
            "s3",
            endpoint_url=config.endpoint_url,
            config=self._botocore_config(
                max_attempts=config.max_attempts,
                connect_timeout_s=config.connect_timeout_s,
                read_timeout_s=config.read_timeout_s,
            ),
        )
        self._probe_client: S3Client = session.client(
            "s3",
            endpoint_url=config.endpoint_url,
            config=self._botocore_config(
                max_attempts=1,
                connect_timeout_s=min(config.connect_timeout_s, PING_TIMEOUT_S),
                read_timeout_s=min(config.read_timeout_s, PING_TIMEOUT_S),
            ),
        )
        self._executor = ThreadPoolExecutor(
            config.max_pool_connections, thread_name_prefix="blobstore-s3"
        )

    def _botocore_config(
        self, *, max_attempts: int, connect_timeout_s: float, read_timeout_s: float
    ) -> BotocoreConfig:
        return BotocoreConfig(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            max_pool_connections=self.config.max_pool_connections,
            s3={"addressing_style": "path" if self.config.path_style else "auto"},
            # botocore >= 1.36 adds CRC checksums to every upload by default, which several
            # S3-compatible stores reject; we hash the content ourselves anyway.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )

    @contextmanager
    def translated_errors(self) -> Iterator[None]:
        """Turn connection failures and store-level refusals into BlobStoreUnavailable (a full
        store into BlobStoreFull)."""
        try:
            yield
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(self._describe(str(exc))) from exc
        except ClientError as exc:
            if _means_no_space(exc):
                raise BlobStoreFull(self._describe(f"no space left: {exc}")) from exc
            if _means_unavailable(exc):
                raise BlobStoreUnavailable(self._describe(str(exc))) from exc
            raise

    def _describe(self, reason: str) -> str:
        endpoint = self.config.endpoint_url or "the default AWS endpoint"
        return f"S3 bucket {self.bucket!r} at {endpoint}: {reason}"

    def _object_key(self, key: str) -> str:
        return self._key_prefix + validate_key(key)

    def open_writer(self, key: str, *, md5: bool = False) -> S3BlobWriter:
        """Start writing `key`; it appears only when the writer commits."""
        return S3BlobWriter(
            key,
            object_key=self._object_key(key),
            store=self,
            part_size_bytes=self.config.part_size_bytes,
            executor=self._executor,
            md5=md5,
        )

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, md5: bool = False
    ) -> BlobInfo:
        """Write all of `chunks` as `key` and commit it."""
        async with self.open_writer(key, md5=md5) as writer:
            async for chunk in chunks:
                await writer.write(chunk)
            return await writer.commit()

    async def read_stream(
        self, key: str, *, chunk_size_bytes: int = DEFAULT_READ_CHUNK_BYTES
    ) -> AsyncIterator[bytes]:
        """Stream `key` in chunks of up to `chunk_size_bytes`; BlobNotFound if absent."""
        object_key = self._object_key(key)
        require_positive_chunk_size(chunk_size_bytes)

        def open_body() -> StreamingBody | None:
            with self.translated_errors():
                try:
                    return self.client.get_object(Bucket=self.bucket, Key=object_key)["Body"]
                except ClientError as exc:
                    if _is_not_found(exc):
                        return None
                    raise

        def read_chunk(body: StreamingBody) -> bytes:
            with self.translated_errors():
                return body.read(chunk_size_bytes)

        body = await self._in_thread(open_body)
        if body is None:
            raise BlobNotFound(key)
        try:
            while chunk := await self._in_thread(read_chunk, body):
                yield chunk
        finally:
            body.close()  # returns the connection to the pool; does not block

    async def size_of(self, key: str) -> int | None:
        """Size of `key` in bytes, or None if absent."""
        object_key = self._object_key(key)

        def head() -> int | None:
            with self.translated_errors():
                try:
                    return self.client.head_object(Bucket=self.bucket, Key=object_key)[
                        "ContentLength"
                    ]
                except ClientError as exc:
                    if _is_not_found(exc):
                        return None
                    raise

        return await self._in_thread(head)

    async def delete(self, key: str) -> None:
        """Delete `key`; nothing happens if it is absent (S3 deletes are idempotent)."""
        object_key = self._object_key(key)

        def delete_object() -> None:
            with self.translated_errors():
                self.client.delete_object(Bucket=self.bucket, Key=object_key)

        await self._in_thread(delete_object)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix`; return how many."""
        full_prefix = self._key_prefix + validate_prefix(prefix)

        def delete_listed() -> int:
            deleted = 0
            with self.translated_errors():
                pages = self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=full_prefix
                )
                for page in pages:  # at most 1000 keys a page, DeleteObjects' limit too
                    objects: list[ObjectIdentifierTypeDef] = [
                        {"Key": listed["Key"]} for listed in page.get("Contents", [])
                    ]
                    if not objects:
                        continue
                    answer = self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                    )
                    if errors := answer.get("Errors", []):
                        first = errors[0]
                        raise BlobStoreUnavailable(
                            self._describe(
                                f"could not delete {len(errors)} object(s) under "
                                f"{full_prefix!r}, e.g. {first.get('Key')!r}: "
                                f"{first.get('Code')} {first.get('Message')}"
                            )
                        )
                    deleted += len(objects)
            return deleted

        return await self._in_thread(delete_listed)

    async def abandoned_writes(self, older_than_s: float, *, limit: int) -> list[AbandonedWrite]:
        """Multipart uploads under this store's prefix started more than `older_than_s` ago
        (a writer that died mid-write leaves one, invisible but billed), at most `limit`."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)

        def list_stale() -> list[AbandonedWrite]:
            found: list[AbandonedWrite] = []
            with self.translated_errors():
                pages = self.client.get_paginator("list_multipart_uploads").paginate(
                    Bucket=self.bucket, Prefix=self._key_prefix
                )
                for page in pages:
                    for upload in page.get("Uploads", []):
                        if upload["Initiated"] >= cutoff:
                            continue
                        found.append(
                            AbandonedWrite(id=upload["UploadId"], object_key=upload["Key"])
                        )
                        if len(found) >= limit:
                            return found
            return found

        return await self._in_thread(list_stale)

    async def discard_abandoned(self, write: AbandonedWrite) -> bool:
        """Abort the multipart upload `write` names; False when it is gone already."""
        if write.object_key is None:
            raise InvalidBlobKey(f"multipart upload {write.id!r} names no object key")
        object_key = write.object_key

        def abort() -> bool:
            with self.translated_errors():
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=object_key, UploadId=write.id
                    )
                except ClientError as exc:
                    if _error_code(exc) in _NO_SUCH_UPLOAD_ERROR_CODES:
                        return False  # completed or aborted meanwhile
                    raise
            return True

        return await self._in_thread(abort)

    async def ping(self) -> None:
        """Check the bucket answers HeadBucket, with one short attempt."""

        def head_bucket() -> None:
            try:
                self._probe_client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                reason = "bucket not found" if _is_not_found(exc) else str(exc)
                raise BlobStoreUnavailable(self._describe(reason)) from exc
            except BotoCoreError as exc:
                raise BlobStoreUnavailable(self._describe(str(exc))) from exc

        await self._in_thread(head_bucket)

    async def close(self) -> None:
        """Wait for running calls, stop the thread pool and close the HTTP connections."""
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self.client.close()
        self._probe_client.close()

    async def _in_thread(
        self, blocking: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        call = functools.partial(blocking, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)
