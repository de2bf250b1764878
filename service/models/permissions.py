"""Checkpoint permissions: the record of a grant and the store of ``checkpoint_permissions``.

A grant names the shared thing by its public ``ft:`` name (a fine-tuned model or one of its
checkpoints), its owner and the project it is shared with; at most one grant per name and
grantee. Every read is scoped to the owner: another project's grants do not exist for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.engine import SessionFactory
from service.db.tables import CheckpointPermissionRow
from service.pagination import ListOrder, Page, fetch_page, to_page


@dataclass(frozen=True)
class PermissionRecord:
    """Project ``grantee_project_id`` may use ``model_name``, which ``project_id`` owns."""

    id: str
    model_name: str
    project_id: str
    grantee_project_id: str
    created_at: int
    created_us: int


class PermissionStore:
    """Reads and writes grants."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def grant(self, record: PermissionRecord) -> PermissionRecord:
        """Store the grant, or return the one that already shares this name with this project."""
        try:
            async with self._sessions.begin() as session:
                existing = await self._find(
                    await session.connection(), record.model_name, record.grantee_project_id
                )
                if existing is not None:
                    return existing
                session.add(_row(record))
        except IntegrityError:  # a concurrent grant of the same pair won the race
            async with self._sessions.read() as connection:
                existing = await self._find(
                    connection, record.model_name, record.grantee_project_id
                )
            if existing is None:
                raise
            return existing
        return record

    async def page(
        self,
        project_id: str,
        model_name: str,
        *,
        grantee_project_id: str | None,
        order: ListOrder,
        after_id: str | None,
        limit: int,
    ) -> Page[PermissionRecord]:
        """The owner's grants of ``model_name`` (optionally to one project), in ``order``."""
        table = CheckpointPermissionRow
        scope = (table.project_id == project_id) & (table.model_name == model_name)
        if grantee_project_id is not None:
            scope &= table.grantee_project_id == grantee_project_id
        async with self._sessions.read() as connection:
            rows = await fetch_page(
                connection, table, scope=scope, order=order, after_id=after_id, limit=limit
            )
        return to_page([_record(row) for row in rows], limit)

    async def revoke(
        self, project_id: str, model_name: str, permission_id: str
    ) -> PermissionRecord | None:
        """Remove the owner's grant ``permission_id`` of ``model_name``; None if there is none."""
        table = CheckpointPermissionRow
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(table).where(
                    table.id == permission_id,
                    table.project_id == project_id,
                    table.model_name == model_name,
                )
            )
            if row is None:
                return None
            record = _record(row)
            await session.execute(delete(table).where(table.id == permission_id))
        return record

    @staticmethod
    async def _find(
        connection: AsyncConnection, model_name: str, grantee_project_id: str
    ) -> PermissionRecord | None:
        row = (
            await connection.execute(
                select(CheckpointPermissionRow).where(
                    CheckpointPermissionRow.model_name == model_name,
                    CheckpointPermissionRow.grantee_project_id == grantee_project_id,
                )
            )
        ).first()
        return None if row is None else _record(row)


def _row(record: PermissionRecord) -> CheckpointPermissionRow:
    return CheckpointPermissionRow(
        id=record.id,
        model_name=record.model_name,
        project_id=record.project_id,
        grantee_project_id=record.grantee_project_id,
        created_at=record.created_at,
        created_us=record.created_us,
    )


def _record(row: CheckpointPermissionRow | Row[Any]) -> PermissionRecord:
    return PermissionRecord(
        id=row.id,
        model_name=row.model_name,
        project_id=row.project_id,
        grantee_project_id=row.grantee_project_id,
        created_at=row.created_at,
        created_us=row.created_us,
    )
