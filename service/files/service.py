"""Files: check what a caller sends, stream bodies into the blob store, list, read and delete."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

from service.auth.caller import Caller
from service.blobstore import BlobInfo, BlobNotFound, BlobStore, BlobWriter
from service.blobstore.keys import file_key
from service.clock import Clock, to_seconds
from service.errors import InvalidRequest, NotFound, PayloadTooLarge
from service.files.naming import extension_of, sanitize_filename
from service.files.records import (
    UPLOADABLE_PURPOSES,
    ExpiresAfter,
    FilePurpose,
    FileRecord,
    FileSpec,
    FileStatus,
)
from service.files.store import FileStore
from service.ids import IdPrefix, new_id
from service.pagination import ListOrder, Page, require_page_limit
from service.queue.poisoned_rows import PoisonedRows

logger = logging.getLogger(__name__)

MIN_EXPIRES_AFTER_S = 3600
MAX_EXPIRES_AFTER_S = 30 * 24 * 3600
BATCH_DEFAULT_EXPIRES_AFTER_S = 30 * 24 * 3600
MAX_LIST_LIMIT = 10_000


def check_file_spec(
    purpose: str | None,
    filename: str | None,
    *,
    expires_after_anchor: str | None = None,
    expires_after_seconds: str | int | None = None,
) -> FileSpec:
    """Validate what a caller asked for; raises ``InvalidRequest`` naming the bad field."""
    allowed = [p.value for p in UPLOADABLE_PURPOSES]
    if purpose is None or purpose == "":
        raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose")
    if purpose not in allowed:
        raise InvalidRequest(f"'{purpose}' is not one of {allowed} - 'purpose'", param="purpose")
    name = sanitize_filename(filename)
    # Raw bytes sent by the SDK arrive named "upload" (no extension): accept those, the content
    # check decides; refuse names that say they are another format.
    ext = extension_of(name)
    if purpose == FilePurpose.FINE_TUNE and ext is not None and ext != ".jsonl":
        raise InvalidRequest(
            "Invalid file format for Fine-Tuning API. Must be .jsonl", param="file"
        )
    return FileSpec(
        purpose=stored_purpose(FilePurpose(purpose)),
        filename=name,
        expires_after=_check_expires_after(expires_after_anchor, expires_after_seconds),
    )


def stored_purpose(purpose: FilePurpose) -> FilePurpose:
    """The purpose a file is stored and answered with: ``evals`` becomes ``user_data``.

    The SDK uploads with ``purpose="evals"``, but its ``FileObject.purpose`` has no ``evals``,
    so answering it would break strict clients; ``user_data`` is OpenAI's any-purpose file, and
    eval runs read any JSONL file the project owns.
    """
    return FilePurpose.USER_DATA if purpose is FilePurpose.EVALS else purpose


def _check_expires_after(anchor: str | None, seconds: str | int | None) -> ExpiresAfter | None:
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise InvalidRequest(
            "expires_after.anchor must be 'created_at'.", param="expires_after.anchor"
        )
    try:
        value = int(seconds) if seconds is not None else None
    except ValueError:
        value = None
    if value is None or not MIN_EXPIRES_AFTER_S <= value <= MAX_EXPIRES_AFTER_S:
        raise InvalidRequest(
            f"expires_after.seconds must be an integer between {MIN_EXPIRES_AFTER_S} and "
            f"{MAX_EXPIRES_AFTER_S}.",
            param="expires_after.seconds",
        )
    return ExpiresAfter(seconds=value)


class FileValidationQueue(Protocol):
    """Where freshly stored fine-tune files go to have their content validated."""

    async def submit(self, project_id: str, file_id: str) -> None:
        """Validate this file soon."""
        ...


class IncomingFile:
    """A body being received for a new file; nothing is visible until ``FileService.save``."""

    def __init__(self, file_id: str, writer: BlobWriter, max_bytes: int) -> None:
        self.file_id = file_id
        self.bytes_received = 0
        self._writer = writer
        self._max_bytes = max_bytes

    async def write(self, chunk: bytes) -> None:
        """Append a chunk; refuses to grow past the size limit."""
        self.bytes_received += len(chunk)
        if self.bytes_received > self._max_bytes:
            raise PayloadTooLarge(
                f"File is larger than the limit of {self._max_bytes} bytes.", param="file"
            )
        await self._writer.write(chunk)

    async def commit(self) -> BlobInfo:
        """Make the received body durable and visible under its key."""
        return await self._writer.commit()

    async def discard(self) -> None:
        """Drop everything received so far."""
        await self._writer.abort()


class FileService:
    """Stores, lists, reads and deletes a project's files."""

    def __init__(
        self,
        store: FileStore,
        blobs: BlobStore,
        clock: Clock,
        *,
        max_file_bytes: int,
        validation: FileValidationQueue | None = None,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._clock = clock
        self._max_file_bytes = max_file_bytes
        self._validation = validation

    @property
    def max_file_bytes(self) -> int:
        """The largest body ``POST /v1/files`` accepts."""
        return self._max_file_bytes

    def incoming(
        self, caller: Caller, *, max_bytes: int | None = None, md5: bool = False
    ) -> IncomingFile:
        """Start receiving a body for a new file of this caller (md5 computed only on request)."""
        file_id = new_id(IdPrefix.FILE)
        writer = self._blobs.open_writer(file_key(caller.project_id, file_id), md5=md5)
        return IncomingFile(file_id, writer, max_bytes or self._max_file_bytes)

    async def save(
        self,
        caller: Caller,
        incoming: IncomingFile,
        spec: FileSpec,
        *,
        expected_md5: str | None = None,
    ) -> FileRecord:
        """Commit a received body and record the file; a wrong ``expected_md5`` stores nothing."""
        info = await incoming.commit()
        if expected_md5 is not None and info.md5 != expected_md5.lower():  # md5 set when asked
            await self._blobs.delete(info.key)
            raise InvalidRequest(
                f"The md5 of the assembled file is {info.md5}, not {expected_md5}.", param="md5"
            )
        now_us = self._clock.now_us()
        created_at = to_seconds(now_us)
        expires_after = spec.expires_after
        if expires_after is None and spec.purpose is FilePurpose.BATCH:
            expires_after = ExpiresAfter(BATCH_DEFAULT_EXPIRES_AFTER_S)
        validate = spec.purpose is FilePurpose.FINE_TUNE and self._validation is not None
        record = FileRecord(
            id=incoming.file_id,
            project_id=caller.project_id,
            purpose=spec.purpose,
            filename=spec.filename,
            bytes=info.size_bytes,
            sha256=info.sha256,
            # Training data is "uploaded" until its content is validated; other files are done.
            status=FileStatus.UPLOADED if validate else FileStatus.PROCESSED,
            status_details=None,
            created_at=created_at,
            created_us=now_us,
            expires_at=None if expires_after is None else created_at + expires_after.seconds,
        )
        try:
            await self._store.insert(record)
        except BaseException:
            await self._blobs.delete(info.key)
            raise
        if validate and self._validation is not None:
            try:
                await self._validation.submit(record.project_id, record.id)
            except Exception:  # the row says "uploaded": the reconciler submits it again
                logger.warning("could not queue validation", extra={"file_id": record.id})
        return record

    async def create(
        self,
        caller: Caller,
        spec: FileSpec,
        chunks: AsyncIterable[bytes],
        *,
        expected_md5: str | None = None,
    ) -> FileRecord:
        """Store a whole body from an async stream (used by Uploads and result files)."""
        incoming = self.incoming(caller, max_bytes=2**63, md5=expected_md5 is not None)
        try:
            async for chunk in chunks:
                await incoming.write(chunk)
            return await self.save(caller, incoming, spec, expected_md5=expected_md5)
        except BaseException:
            await incoming.discard()
            raise

    async def get(self, caller: Caller, file_id: str) -> FileRecord:
        """The caller's file; 404 for missing and foreign ids alike."""
        record = await self._store.get(caller.project_id, file_id)
        if record is None:
            raise NotFound(f"No such File object: {file_id}", param="id")
        return record

    async def list_files(
        self,
        caller: Caller,
        *,
        purpose: str | None,
        limit: int,
        order: ListOrder,
        after: str | None,
    ) -> Page[FileRecord]:
        """A page of the caller's files."""
        require_page_limit(limit, MAX_LIST_LIMIT)
        if purpose == FilePurpose.EVALS:
            purpose = FilePurpose.USER_DATA.value  # how evals files are stored
        return await self._store.list_page(
            caller.project_id, purpose=purpose, order=order, after_id=after, limit=limit
        )

    async def content(
        self, caller: Caller, file_id: str
    ) -> tuple[FileRecord, AsyncIterator[bytes]]:
        """The file's record and a stream of its bytes."""
        record = await self.get(caller, file_id)
        return record, self._blobs.read_stream(file_key(caller.project_id, file_id))

    async def delete(self, caller: Caller, file_id: str) -> None:
        """Remove the file: the row first (it disappears at once), then its body."""
        if not await self._store.delete(caller.project_id, file_id):
            raise NotFound(f"No such File object: {file_id}", param="id")
        try:
            await self._blobs.delete(file_key(caller.project_id, file_id))
        except (BlobNotFound, OSError):
            logger.warning("file body already gone or not deletable", extra={"file_id": file_id})

    async def delete_expired(self, poisoned: PoisonedRows, *, batch_size: int = 500) -> int:
        """Delete files whose ``expires_at`` has passed (the sweep cron), each on its own;
        returns how many went."""
        now_s = to_seconds(self._clock.now_us())
        expired = await poisoned.fetch_fresh(
            lambda limit: self._store.expired_ids(now_s, limit), _file_id, limit=batch_size
        )
        removed = 0
        for project_id, file_id in expired:
            async with poisoned.handling(file_id):
                if await self._store.delete(project_id, file_id):
                    await self._blobs.delete(file_key(project_id, file_id))
                    removed += 1
        return removed


def _file_id(row: tuple[str, str]) -> str:
    return row[1]  # rows are (project_id, file_id)
