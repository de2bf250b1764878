"""Upload and upload-part rows, scoped to one project."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, func, select, update

from service.db.engine import SessionFactory
from service.db.tables import UploadPartRow, UploadRow
from service.uploads.records import UploadPartRecord, UploadRecord, UploadStatus


class UploadStore:
    """Reads and writes ``uploads`` and ``upload_parts`` rows."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def insert(self, record: UploadRecord) -> None:
        """Add an upload row."""
        async with self._sessions.begin() as session:
            session.add(
                UploadRow(
                    id=record.id,
                    project_id=record.project_id,
                    filename=record.filename,
                    purpose=record.purpose,
                    bytes=record.bytes,
                    mime_type=record.mime_type,
                    status=record.status.value,
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                    file_expires_after_s=record.file_expires_after_s,
                )
            )

    async def get(self, project_id: str, upload_id: str) -> tuple[UploadRecord, str | None] | None:
        """The project's upload and the id of the file it became, or None."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(UploadRow).where(
                        UploadRow.id == upload_id, UploadRow.project_id == project_id
                    )
                )
            ).first()
            return None if row is None else (_record(row), row.file_id)

    async def transition(
        self,
        upload_id: str,
        expected: UploadStatus,
        new: UploadStatus,
        *,
        file_id: str | None = None,
    ) -> bool:
        """Compare-and-set the status; False when it was no longer ``expected``."""
        values: dict[str, str] = {"status": new.value}
        if file_id is not None:
            values["file_id"] = file_id
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(UploadRow)
                .where(UploadRow.id == upload_id, UploadRow.status == expected.value)
                .values(**values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def add_part(self, part: UploadPartRecord) -> None:
        """Record a received part."""
        async with self._sessions.begin() as session:
            session.add(
                UploadPartRow(
                    id=part.id,
                    upload_id=part.upload_id,
                    size_bytes=part.size_bytes,
                    created_at=part.created_at,
                )
            )

    async def parts(self, upload_id: str) -> dict[str, UploadPartRecord]:
        """Every part of an upload, by id."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(UploadPartRow).where(UploadPartRow.upload_id == upload_id)
            )
            return {
                row.id: UploadPartRecord(
                    id=row.id,
                    upload_id=row.upload_id,
                    size_bytes=row.size_bytes,
                    created_at=row.created_at,
                )
                for row in rows
            }

    async def received_bytes(self, upload_id: str) -> int:
        """Sum of the sizes of the parts received so far."""
        async with self._sessions.read() as connection:
            total = await connection.scalar(
                select(func.coalesce(func.sum(UploadPartRow.size_bytes), 0)).where(
                    UploadPartRow.upload_id == upload_id
                )
            )
            return int(total or 0)

    async def stale(self, now_s: int, limit: int) -> list[UploadRecord]:
        """Uploads past their expiry still pending, plus finished ones whose parts remain."""
        async with self._sessions.read() as connection:
            has_parts = select(UploadPartRow.id).where(UploadPartRow.upload_id == UploadRow.id)
            rows = await connection.execute(
                select(UploadRow)
                .where(
                    (
                        (UploadRow.status == UploadStatus.PENDING.value)
                        & (UploadRow.expires_at <= now_s)
                    )
                    | ((UploadRow.status != UploadStatus.PENDING.value) & has_parts.exists())
                )
                .limit(limit)
            )
            return [_record(row) for row in rows]

    async def forget_parts(self, upload_id: str) -> None:
        """Drop the part rows once their bodies are gone."""
        async with self._sessions.begin() as session:
            await session.execute(delete(UploadPartRow).where(UploadPartRow.upload_id == upload_id))


def _record(row: UploadRow | Row[Any]) -> UploadRecord:
    return UploadRecord(
        id=row.id,
        project_id=row.project_id,
        filename=row.filename,
        purpose=row.purpose,
        bytes=row.bytes,
        mime_type=row.mime_type,
        status=UploadStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        file_expires_after_s=row.file_expires_after_s,
    )
