"""Fine-tuned models: their record and the store of ``fine_tuned_models`` rows.

A row is written when a job's adapter is published (``service.models.publisher``, in the
transaction that finishes the job), under its ``ft:`` name. ``DELETE
/v1/models/{id}`` only stamps ``deleted_at`` (the model is gone for callers at once); a cleanup
later lists rows deleted longer ago than a grace period, removes their blobs and purges them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.engine import SessionFactory
from service.db.tables import FineTunedModelRow


@dataclass(frozen=True)
class FineTunedModelRecord:
    """A published adapter, callable by its ``ft:`` name while ``deleted_at`` is None."""

    id: str
    project_id: str
    organization_id: str
    job_id: str | None  # None: imported (``service.models.imports``), not trained here
    base_model: str
    blob_prefix: str
    created_at: int
    deleted_at: int | None = None


class FineTunedModelStore:
    """Reads and writes ``fine_tuned_models`` rows; caller-facing reads filter by project."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def insert(self, record: FineTunedModelRecord) -> bool:
        """Add a model row in a transaction of its own; False when one with this id exists."""
        try:
            async with self._sessions.begin() as session:
                if await session.get(FineTunedModelRow, record.id) is not None:
                    return False
                add_model_in(session, record)
        except IntegrityError:  # a concurrent publish of the same name won the race
            return False
        return True

    async def get(self, project_id: str, model_id: str) -> FineTunedModelRecord | None:
        """The project's live model, or None (missing, foreign and deleted look alike)."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(FineTunedModelRow).where(
                        FineTunedModelRow.id == model_id,
                        FineTunedModelRow.project_id == project_id,
                        FineTunedModelRow.deleted_at.is_(None),
                    )
                )
            ).first()
            return None if row is None else _record(row)

    async def list_live(self, project_id: str) -> list[FineTunedModelRecord]:
        """The project's live models, oldest first."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(FineTunedModelRow)
                .where(
                    FineTunedModelRow.project_id == project_id,
                    FineTunedModelRow.deleted_at.is_(None),
                )
                .order_by(FineTunedModelRow.created_at, FineTunedModelRow.id)
            )
            return [_record(row) for row in rows]

    async def mark_deleted(self, project_id: str, model_id: str, *, deleted_at: int) -> bool:
        """Stamp the project's live model as deleted; False when there is no such live model."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(FineTunedModelRow)
                .where(
                    FineTunedModelRow.id == model_id,
                    FineTunedModelRow.project_id == project_id,
                    FineTunedModelRow.deleted_at.is_(None),
                )
                .values(deleted_at=deleted_at)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def deleted_before(self, cutoff_s: int, *, limit: int) -> list[FineTunedModelRecord]:
        """Models deleted at or before ``cutoff_s`` (Unix seconds), whose blobs may now go."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(FineTunedModelRow)
                .where(
                    FineTunedModelRow.deleted_at.is_not(None),
                    FineTunedModelRow.deleted_at <= cutoff_s,
                )
                .order_by(FineTunedModelRow.deleted_at, FineTunedModelRow.id)
                .limit(limit)
            )
            return [_record(row) for row in rows]

    async def purge(self, model_id: str) -> bool:
        """Remove a deleted model's row once its blobs are gone; live rows are never purged."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(FineTunedModelRow).where(
                    FineTunedModelRow.id == model_id, FineTunedModelRow.deleted_at.is_not(None)
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]


def add_model_in(session: AsyncSession, record: FineTunedModelRecord) -> None:
    """Add a model row in the caller's transaction (a publication's)."""
    session.add(_row(record))


def _row(record: FineTunedModelRecord) -> FineTunedModelRow:
    return FineTunedModelRow(
        id=record.id,
        project_id=record.project_id,
        organization_id=record.organization_id,
        job_id=record.job_id,
        base_model=record.base_model,
        blob_prefix=record.blob_prefix,
        created_at=record.created_at,
        deleted_at=record.deleted_at,
    )


def _record(row: FineTunedModelRow | Row[Any]) -> FineTunedModelRecord:
    return FineTunedModelRecord(
        id=row.id,
        project_id=row.project_id,
        organization_id=row.organization_id,
        job_id=row.job_id,
        base_model=row.base_model,
        blob_prefix=row.blob_prefix,
        created_at=row.created_at,
        deleted_at=row.deleted_at,
    )
