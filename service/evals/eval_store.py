"""Eval rows; every query filters by project, so another project's eval reads as missing."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from service.db.engine import SessionFactory
from service.db.tables import EvalRow
from service.evals.records import EvalRecord
from service.evals.rows import dump_json, eval_record, eval_row
from service.pagination import ListOrder, Page, fetch_page, to_page

UNSET: object = object()  # "leave this column alone" in ``update``


class EvalStore:
    """Reads and writes ``evals``."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def insert(self, record: EvalRecord) -> None:
        """Add an eval."""
        async with self._sessions.begin() as session:
            session.add(eval_row(record))

    async def get(self, project_id: str, eval_id: str) -> EvalRecord | None:
        """The project's eval, or None (missing and foreign look alike)."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(EvalRow).where(EvalRow.id == eval_id, EvalRow.project_id == project_id)
                )
            ).first()
            return None if row is None else eval_record(row)

    async def list_page(
        self, project_id: str, *, order: ListOrder, after_id: str | None, limit: int
    ) -> Page[EvalRecord]:
        """A page of the project's evals by creation time."""
        async with self._sessions.read() as connection:
            rows = await fetch_page(
                connection,
                EvalRow,
                scope=EvalRow.project_id == project_id,
                order=order,
                after_id=after_id,
                limit=limit,
            )
            return to_page([eval_record(row) for row in rows], limit)

    async def update(
        self,
        project_id: str,
        eval_id: str,
        *,
        name: str | object = UNSET,
        metadata: dict[str, str] | object | None = UNSET,
    ) -> EvalRecord | None:
        """Change the name and/or metadata; None when the project has no such eval."""
        values: dict[str, object] = {}
        if name is not UNSET:
            values["name"] = name
        if metadata is not UNSET:
            values["metadata_json"] = None if metadata is None else dump_json(metadata)
        mine = (EvalRow.id == eval_id, EvalRow.project_id == project_id)
        async with self._sessions.begin() as session:
            if values:
                await session.execute(update(EvalRow).where(*mine).values(**values))
            row = await session.scalar(
                select(EvalRow).where(*mine).execution_options(populate_existing=True)
            )
            return None if row is None else eval_record(row)

    async def delete(self, project_id: str, eval_id: str) -> bool:
        """Remove the eval; its runs and their output items go with it (ON DELETE CASCADE).
        False when the project has no such eval."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(EvalRow).where(EvalRow.id == eval_id, EvalRow.project_id == project_id)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]
