"""Uploads: receive parts, assemble them in the caller's order into a File, expire the rest."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import replace

from service.auth.caller import Caller
from service.blobstore import BlobStore
from service.blobstore.keys import upload_part_key, upload_prefix
from service.clock import Clock, to_seconds
from service.errors import InvalidRequest, NotFound, PayloadTooLarge
from service.files.records import ExpiresAfter, FileRecord, FileSpec
from service.files.service import FileService, check_file_spec
from service.ids import IdPrefix, new_id
from service.queue.poisoned_rows import PoisonedRows
from service.uploads.records import UploadPartRecord, UploadRecord, UploadStatus
from service.uploads.store import UploadStore

logger = logging.getLogger(__name__)


class UploadService:
    """The Uploads API's rules, over the upload store, the blob store and the Files service."""

    def __init__(
        self,
        store: UploadStore,
        files: FileService,
        blobs: BlobStore,
        clock: Clock,
        *,
        max_upload_bytes: int,
        max_part_bytes: int,
        upload_ttl_s: int,
    ) -> None:
        self._store = store
        self._files = files
        self._blobs = blobs
        self._clock = clock
        self._max_upload_bytes = max_upload_bytes
        self._max_part_bytes = max_part_bytes
        self._upload_ttl_s = upload_ttl_s

    @property
    def max_part_bytes(self) -> int:
        """The largest part ``POST /v1/uploads/{id}/parts`` accepts."""
        return self._max_part_bytes

    async def create(
        self,
        caller: Caller,
        *,
        filename: str,
        purpose: str,
        bytes_total: int,
        mime_type: str,
        expires_after_anchor: str | None = None,
        expires_after_seconds: int | None = None,
    ) -> UploadRecord:
        """Open an upload of ``bytes_total`` bytes that expires after the configured TTL."""
        spec = check_file_spec(
            purpose,
            filename,
            expires_after_anchor=expires_after_anchor,
            expires_after_seconds=expires_after_seconds,
        )
        if not 0 <= bytes_total <= self._max_upload_bytes:
            raise InvalidRequest(
                f"bytes must be between 0 and {self._max_upload_bytes}.", param="bytes"
            )
        now_s = to_seconds(self._clock.now_us())
        record = UploadRecord(
            id=new_id(IdPrefix.UPLOAD),
            project_id=caller.project_id,
            filename=spec.filename,
            purpose=spec.purpose.value,
            bytes=bytes_total,
            mime_type=mime_type,
            status=UploadStatus.PENDING,
            created_at=now_s,
            expires_at=now_s + self._upload_ttl_s,
            file_expires_after_s=None if spec.expires_after is None else spec.expires_after.seconds,
        )
        await self._store.insert(record)
        return record

    async def add_part(
        self, caller: Caller, upload_id: str, chunks: AsyncIterable[bytes]
    ) -> UploadPartRecord:
        """Store one part (at most the part size limit) of a pending upload."""
        upload = await self._pending(caller, upload_id)
        part_id = new_id(IdPrefix.UPLOAD_PART)
        async with self._blobs.open_writer(
            upload_part_key(caller.project_id, upload_id, part_id)
        ) as writer:
            size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > self._max_part_bytes:
                    raise PayloadTooLarge(
                        f"Upload parts may be at most {self._max_part_bytes} bytes.", param="data"
                    )
                await writer.write(chunk)
            received = await self._store.received_bytes(upload_id)
            if received + size > upload.bytes:
                raise InvalidRequest(
                    f"This part would bring the upload to {received + size} bytes, more than "
                    f"the {upload.bytes} bytes it was created with.",
                    param="data",
                )
            await writer.commit()
        part = UploadPartRecord(
            id=part_id,
            upload_id=upload_id,
            size_bytes=size,
            created_at=to_seconds(self._clock.now_us()),
        )
        await self._store.add_part(part)
        return part

    async def complete(
        self, caller: Caller, upload_id: str, part_ids: list[str], md5: str | None
    ) -> UploadRecord:
        """Assemble the parts in ``part_ids`` order into a File; check size and optional md5."""
        upload = await self._pending(caller, upload_id)
        parts = await self._store.parts(upload_id)
        if len(set(part_ids)) != len(part_ids):
            raise InvalidRequest("part_ids must not repeat a part.", param="part_ids")
        unknown = [part_id for part_id in part_ids if part_id not in parts]
        if unknown:
            raise InvalidRequest(
                f"Part {unknown[0]} does not belong to upload {upload_id}.", param="part_ids"
            )
        total = sum(parts[part_id].size_bytes for part_id in part_ids)
        if total != upload.bytes:
            raise InvalidRequest(
                f"The parts add up to {total} bytes, but the upload was created with "
                f"bytes={upload.bytes}.",
                param="bytes",
            )
        spec = FileSpec(
            purpose=check_file_spec(upload.purpose, upload.filename).purpose,
            filename=upload.filename,
            expires_after=None
            if upload.file_expires_after_s is None
            else ExpiresAfter(upload.file_expires_after_s),
        )
        file = await self._files.create(
            caller,
            spec,
            self._concatenated(caller.project_id, upload_id, part_ids),
            expected_md5=md5,
        )
        if not await self._store.transition(
            upload_id, UploadStatus.PENDING, UploadStatus.COMPLETED, file_id=file.id
        ):
            await self._files.delete(caller, file.id)
            raise InvalidRequest(
                f"Upload {upload_id} changed state while completing.", code="upload_not_pending"
            )
        await self._drop_parts(upload)
        return _with(upload, UploadStatus.COMPLETED, file)

    async def cancel(self, caller: Caller, upload_id: str) -> UploadRecord:
        """Cancel a pending upload and drop its parts."""
        upload = await self._pending(caller, upload_id)
        if not await self._store.transition(
            upload_id, UploadStatus.PENDING, UploadStatus.CANCELLED
        ):
            return await self.cancel(caller, upload_id)  # raced: report the state that won
        await self._drop_parts(upload)
        return _with(upload, UploadStatus.CANCELLED, None)

    async def sweep(self, poisoned: PoisonedRows, *, batch_size: int = 200) -> int:
        """Expire overdue pending uploads and delete parts left by finished ones (the sweep
        cron), each upload on its own; returns how many were due."""
        now_s = to_seconds(self._clock.now_us())
        stale = await poisoned.fetch_fresh(
            lambda limit: self._store.stale(now_s, limit), _upload_id, limit=batch_size
        )
        for upload in stale:
            async with poisoned.handling(upload.id):
                if upload.status is UploadStatus.PENDING:
                    await self._store.transition(
                        upload.id, UploadStatus.PENDING, UploadStatus.EXPIRED
                    )
                await self._drop_parts(upload)
        return len(stale)

    async def _pending(self, caller: Caller, upload_id: str) -> UploadRecord:
        found = await self._store.get(caller.project_id, upload_id)
        if found is None:
            raise NotFound(f"No such Upload object: {upload_id}", param="upload_id")
        upload, _ = found
        if upload.status is UploadStatus.PENDING and upload.expires_at <= to_seconds(
            self._clock.now_us()
        ):
            await self._store.transition(upload_id, UploadStatus.PENDING, UploadStatus.EXPIRED)
            upload = _with(upload, UploadStatus.EXPIRED, None)
        if upload.status is not UploadStatus.PENDING:
            raise InvalidRequest(
                f"Upload {upload_id} is {upload.status.value}; only pending uploads accept this.",
                param="upload_id",
                code=f"upload_{upload.status.value}",
            )
        return upload

    async def _concatenated(
        self, project_id: str, upload_id: str, part_ids: list[str]
    ) -> AsyncIterator[bytes]:
        for part_id in part_ids:
            async for chunk in self._blobs.read_stream(
                upload_part_key(project_id, upload_id, part_id), chunk_size_bytes=4 << 20
            ):
                yield chunk

    async def _drop_parts(self, upload: UploadRecord) -> None:
        await self._blobs.delete_prefix(upload_prefix(upload.project_id, upload.id))
        await self._store.forget_parts(upload.id)


def _upload_id(upload: UploadRecord) -> str:
    return upload.id


def _with(upload: UploadRecord, status: UploadStatus, file: FileRecord | None) -> UploadRecord:
    return replace(upload, status=status, file=file)
