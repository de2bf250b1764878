"""File rows in the metadata store, always scoped to one project."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.engine import SessionFactory
from service.db.tables import FileRow
from service.files.records import FilePurpose, FileRecord, FileStatus
from service.pagination import ListOrder, Page, fetch_page, to_page

# Built once: building a statement costs a lookup as much CPU as running it.
_PROJECT_FILE = select(FileRow).where(
    FileRow.id == bindparam("file_id"), FileRow.project_id == bindparam("project_id")
)


class FileStore:
    """Reads and writes ``files`` rows; every query filters by project."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def insert(self, record: FileRecord) -> None:
        """Add a file row."""
        async with self._sessions.begin() as session:
            add_file_in(session, record)

    async def get(self, project_id: str, file_id: str) -> FileRecord | None:
        """The project's file, or None (missing and foreign look alike)."""
        async with self._sessions.read() as connection:
            result = await connection.execute(
                _PROJECT_FILE, {"file_id": file_id, "project_id": project_id}
            )
            row = result.first()
            return None if row is None else _record(row)

    async def get_any(self, file_id: str) -> FileRecord | None:
        """A file by id alone (workers only)."""
        async with self._sessions.read() as connection:
            row = (await connection.execute(select(FileRow).where(FileRow.id == file_id))).first()
            return None if row is None else _record(row)

    async def list_page(
        self,
        project_id: str,
        *,
        purpose: str | None,
        order: ListOrder,
        after_id: str | None,
        limit: int,
    ) -> Page[FileRecord]:
        """A page of the project's files; an unknown ``after_id`` starts from the beginning."""
        async with self._sessions.read() as connection:
            scope = FileRow.project_id == project_id
            query = select(FileRow).where(scope)
            if purpose is not None:
                query = query.where(FileRow.purpose == purpose)
            rows = await fetch_page(
                connection,
                FileRow,
                scope=scope,
                order=order,
                after_id=after_id,
                limit=limit,
                query=query,
            )
            return to_page([_record(row) for row in rows], limit)

    async def delete(self, project_id: str, file_id: str) -> bool:
        """Remove the row; False when the project has no such file."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(FileRow).where(FileRow.id == file_id, FileRow.project_id == project_id)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def record_validation(
        self,
        file_id: str,
        *,
        status: FileStatus,
        status_details: str | None,
        data_format: str | None,
        n_examples: int,
    ) -> None:
        """Record the outcome of content validation."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(FileRow)
                .where(FileRow.id == file_id)
                .values(
                    status=status.value,
                    status_details=status_details,
                    data_format=data_format,
                    n_examples=n_examples,
                )
            )

    async def awaiting_validation(self, limit: int) -> list[tuple[str, str]]:
        """(project_id, file_id) of files still waiting for content validation."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(FileRow.project_id, FileRow.id)
                .where(FileRow.status == FileStatus.UPLOADED.value)
                .order_by(FileRow.created_us)
                .limit(limit)
            )
            return [(project_id, file_id) for project_id, file_id in rows]

    async def expired_ids(self, now_s: int, limit: int) -> list[tuple[str, str]]:
        """(project_id, file_id) of files whose ``expires_at`` has passed."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(FileRow.project_id, FileRow.id)
                .where(FileRow.expires_at.is_not(None), FileRow.expires_at <= now_s)
                .limit(limit)
            )
            return [(project_id, file_id) for project_id, file_id in rows]


def add_file_in(session: AsyncSession, record: FileRecord) -> None:
    """Add a file row in the caller's transaction (a training attempt's publication)."""
    session.add(
        FileRow(
            id=record.id,
            project_id=record.project_id,
            purpose=record.purpose.value,
            filename=record.filename,
            bytes=record.bytes,
            sha256=record.sha256,
            status=record.status.value,
            status_details=record.status_details,
            created_at=record.created_at,
            created_us=record.created_us,
            expires_at=record.expires_at,
            data_format=record.data_format,
            n_examples=record.n_examples,
        )
    )


def _record(row: FileRow | Row[Any]) -> FileRecord:
    return FileRecord(
        id=row.id,
        project_id=row.project_id,
        purpose=FilePurpose(row.purpose),
        filename=row.filename,
        bytes=row.bytes,
        sha256=row.sha256,
        status=FileStatus(row.status),
        status_details=row.status_details,
        created_at=row.created_at,
        created_us=row.created_us,
        expires_at=row.expires_at,
        data_format=row.data_format,
        n_examples=row.n_examples,
    )
