"""Eval run rows as the api sees them: insert, read, list, cancel, delete.

Every query filters by project and eval, so another project's run (or a run named under the
wrong eval) reads as missing. The worker's side of a run (claim, heartbeat, counters, finish)
lives in ``service/evals/execution``; cancel here is a compare-and-set on the status it read,
so it never overwrites a run that finished meanwhile.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from service.db.engine import SessionFactory
from service.db.tables import EvalRunRow
from service.evals.records import RunRecord, RunStatus
from service.evals.rows import run_record, run_row
from service.pagination import ListOrder, Page, fetch_page, to_page

CANCELLABLE = (RunStatus.QUEUED, RunStatus.IN_PROGRESS)


class RunStore:
    """Reads and writes ``eval_runs`` for callers."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def insert(self, record: RunRecord) -> None:
        """Add a run."""
        async with self._sessions.begin() as session:
            session.add(run_row(record))

    async def get(self, project_id: str, eval_id: str, run_id: str) -> RunRecord | None:
        """The project's run of ``eval_id``, or None."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(EvalRunRow).where(
                        EvalRunRow.id == run_id,
                        EvalRunRow.eval_id == eval_id,
                        EvalRunRow.project_id == project_id,
                    )
                )
            ).first()
            return None if row is None else run_record(row)

    async def list_page(
        self,
        project_id: str,
        eval_id: str,
        *,
        status: RunStatus | None,
        order: ListOrder,
        after_id: str | None,
        limit: int,
    ) -> Page[RunRecord]:
        """A page of the eval's runs by creation time, optionally of one status."""
        scope = (EvalRunRow.project_id == project_id) & (EvalRunRow.eval_id == eval_id)
        query = select(EvalRunRow).where(scope)
        if status is not None:
            # In the query, not the scope: a cursor of another status still places the page.
            query = query.where(EvalRunRow.status == status.value)
        async with self._sessions.read() as connection:
            rows = await fetch_page(
                connection,
                EvalRunRow,
                scope=scope,
                order=order,
                after_id=after_id,
                limit=limit,
                query=query,
            )
            return to_page([run_record(row) for row in rows], limit)

    async def active_of_eval(self, project_id: str, eval_id: str) -> list[RunRecord]:
        """The eval's runs that are queued or in progress (whose tasks a delete aborts)."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(EvalRunRow).where(
                    EvalRunRow.project_id == project_id,
                    EvalRunRow.eval_id == eval_id,
                    EvalRunRow.status.in_([status.value for status in CANCELLABLE]),
                )
            )
            return [run_record(row) for row in rows]

    async def cancel(self, run: RunRecord, *, finished_at: int) -> RunRecord | None:
        """``run.status → canceled`` if the row still has the status ``run`` was read with;
        None when it moved meanwhile (read it again and decide)."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(EvalRunRow)
                .where(
                    EvalRunRow.id == run.id,
                    EvalRunRow.project_id == run.project_id,
                    EvalRunRow.status == run.status.value,
                )
                .values(status=RunStatus.CANCELED.value, finished_at=finished_at)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
            row = await session.scalar(
                select(EvalRunRow)
                .where(EvalRunRow.id == run.id)
                .execution_options(populate_existing=True)
            )
            return None if row is None else run_record(row)

    async def delete(self, project_id: str, eval_id: str, run_id: str) -> bool:
        """Remove the run and its output items (ON DELETE CASCADE); False when missing."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(EvalRunRow).where(
                    EvalRunRow.id == run_id,
                    EvalRunRow.eval_id == eval_id,
                    EvalRunRow.project_id == project_id,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]
