"""Reading a run's output items; every query filters by project, eval and run.

The runner inserts them (``service/evals/execution``), one per data source item.
"""

from __future__ import annotations

from sqlalchemy import select

from service.db.engine import SessionFactory
from service.db.tables import EvalOutputItemRow
from service.evals.records import OutputItemRecord, OutputItemStatus
from service.evals.rows import output_item_record
from service.pagination import ListOrder, Page, fetch_page, to_page


class OutputItemStore:
    """Reads ``eval_output_items`` for callers."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def get(
        self, project_id: str, eval_id: str, run_id: str, item_id: str
    ) -> OutputItemRecord | None:
        """One output item of the project's run, or None."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(EvalOutputItemRow).where(
                        EvalOutputItemRow.id == item_id,
                        EvalOutputItemRow.run_id == run_id,
                        EvalOutputItemRow.eval_id == eval_id,
                        EvalOutputItemRow.project_id == project_id,
                    )
                )
            ).first()
            return None if row is None else output_item_record(row)

    async def list_page(
        self,
        project_id: str,
        eval_id: str,
        run_id: str,
        *,
        status: OutputItemStatus | None,
        order: ListOrder,
        after_id: str | None,
        limit: int,
    ) -> Page[OutputItemRecord]:
        """A page of the run's output items by creation time, optionally of one status."""
        table = EvalOutputItemRow
        scope = (
            (table.project_id == project_id) & (table.eval_id == eval_id) & (table.run_id == run_id)
        )
        query = select(table).where(scope)
        if status is not None:
            query = query.where(table.status == status.value)
        async with self._sessions.read() as connection:
            rows = await fetch_page(
                connection,
                table,
                scope=scope,
                order=order,
                after_id=after_id,
                limit=limit,
                query=query,
            )
            return to_page([output_item_record(row) for row in rows], limit)
