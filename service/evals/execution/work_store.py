"""The worker's writes to a run: claim, heartbeat, output items, counters, finish, fail.

Every write is a compare-and-set fenced by the run's status and attempt number, so a worker
that lost the run (cancelled, or re-queued after its heartbeat went stale and claimed by another
worker) writes nothing anyone reads:

    write                          made only while the row is
    ─────────────────────────────  ───────────────────────────────────────────────────────────
    claim (attempt n)              queued with attempts n-1 (and the project under its limit)
    heartbeat, items, counters     in_progress with attempts n
    finish → completed             in_progress with attempts n
    hand back → queued             in_progress with attempts n (a worker shutting down)
    give up → failed               queued with attempts n-1 (not claimed yet) or n (handed back
                                     as the policy's time limit cancelled it), or in_progress
                                     with attempts n

An output item is inserted in the same transaction as the heartbeat that proves the claim, and
``(run_id, datasource_item_id)`` is unique with conflicts ignored: each item is stored once
however often a run restarts. The api's side of the row (insert, read, cancel) is
``service/evals/run_store.py``; the reconciler's are in ``reconciler.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.db.engine import SessionFactory
from service.db.tables import EvalOutputItemRow, EvalRow, EvalRunRow
from service.evals.execution.tally import RunTally
from service.evals.records import OutputItemStatus, RunStatus
from service.evals.rows import (
    dump_json,
    encode_criteria_results,
    encode_model_usage,
    encode_result_counts,
)

READ_BATCH = 1000


@dataclass(frozen=True)
class RunPlan:
    """What a worker needs to execute a run: its source and its eval's criteria."""

    run_id: str
    eval_id: str
    project_id: str
    status: RunStatus
    attempts: int
    model: str | None
    data_source: dict[str, Any]
    data_source_config: dict[str, Any]
    testing_criteria: tuple[dict[str, Any], ...]

    @property
    def criteria_names(self) -> list[str]:
        """Each criterion's name, in the eval's order."""
        return [str(c.get("name") or c.get("type") or "") for c in self.testing_criteria]


@dataclass(frozen=True)
class NewOutputItem:
    """One graded (or ungradable) item, ready to store."""

    id: str
    datasource_item_id: int
    datasource_item: dict[str, Any]
    sample: dict[str, Any]
    results: tuple[dict[str, Any], ...]
    status: OutputItemStatus


class Claim(Enum):
    """How a claim went."""

    CLAIMED = "claimed"
    BUSY = "busy"  # the project has as many runs in progress as it may
    GONE = "gone"  # cancelled, deleted, finished, or another attempt owns it


class RunWorkStore:
    """The worker's reads and fenced writes of ``eval_runs`` and ``eval_output_items``."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def plan(self, run_id: str) -> RunPlan | None:
        """The run and its eval, or None when either is gone."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(
                        EvalRunRow.id,
                        EvalRunRow.eval_id,
                        EvalRunRow.project_id,
                        EvalRunRow.status,
                        EvalRunRow.attempts,
                        EvalRunRow.model,
                        EvalRunRow.data_source,
                        EvalRow.data_source_config,
                        EvalRow.testing_criteria,
                    )
                    .join(EvalRow, EvalRow.id == EvalRunRow.eval_id)
                    .where(EvalRunRow.id == run_id)
                )
            ).first()
        if row is None:
            return None
        return RunPlan(
            run_id=row.id,
            eval_id=row.eval_id,
            project_id=row.project_id,
            status=RunStatus(row.status),
            attempts=row.attempts,
            model=row.model,
            data_source=json.loads(row.data_source),
            data_source_config=json.loads(row.data_source_config),
            testing_criteria=tuple(json.loads(row.testing_criteria)),
        )

    async def claim(
        self, plan: RunPlan, attempt: int, *, now_s: int, max_running_in_project: int
    ) -> Claim:
        """``queued → in_progress`` as attempt ``attempt``, if the project is under its limit.

        The count is part of the compare-and-set, so two workers racing for a project's last
        slot rarely both win (under PostgreSQL's read committed both can: the limit is soft)."""
        others = aliased(EvalRunRow)
        running = (
            select(func.count())
            .select_from(others)
            .where(
                others.project_id == plan.project_id,
                others.status == RunStatus.IN_PROGRESS.value,
            )
            .scalar_subquery()
        )
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(EvalRunRow)
                .where(
                    EvalRunRow.id == plan.run_id,
                    EvalRunRow.status == RunStatus.QUEUED.value,
                    EvalRunRow.attempts == attempt - 1,
                    running < max_running_in_project,
                )
                .values(
                    status=RunStatus.IN_PROGRESS.value,
                    attempts=attempt,
                    heartbeat_at=now_s,
                    error=None,
                )
                .execution_options(synchronize_session=False)
            )
            if _changed(result):
                return Claim.CLAIMED
        current = await self.plan(plan.run_id)
        if current is not None and current.status is RunStatus.QUEUED:
            return Claim.BUSY if current.attempts == attempt - 1 else Claim.GONE
        return Claim.GONE

    async def beat(
        self, run_id: str, attempt: int, *, now_s: int, total_items: int | None = None
    ) -> bool:
        """Stamp the heartbeat (and the item count once known); False when the run is lost."""
        values: dict[str, Any] = {"heartbeat_at": now_s}
        if total_items is not None:
            values["total_items"] = total_items
        async with self._sessions.begin() as session:
            return await _fenced(session, run_id, attempt, values)

    async def graded_item_ids(self, run_id: str) -> set[int]:
        """The datasource item ids the run already stored (a restart skips them)."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(EvalOutputItemRow.datasource_item_id).where(
                    EvalOutputItemRow.run_id == run_id
                )
            )
            return {row[0] for row in rows}

    async def stored_items(
        self, run_id: str
    ) -> AsyncIterator[tuple[OutputItemStatus, dict[str, Any], list[dict[str, Any]]]]:
        """Status, sample and results of every stored item, in item order, in batches."""
        after = -1
        while True:
            async with self._sessions.read() as connection:
                rows = (
                    await connection.execute(
                        select(
                            EvalOutputItemRow.datasource_item_id,
                            EvalOutputItemRow.status,
                            EvalOutputItemRow.sample,
                            EvalOutputItemRow.results,
                        )
                        .where(
                            EvalOutputItemRow.run_id == run_id,
                            EvalOutputItemRow.datasource_item_id > after,
                        )
                        .order_by(EvalOutputItemRow.datasource_item_id)
                        .limit(READ_BATCH)
                    )
                ).all()
            for row in rows:
                yield OutputItemStatus(row.status), json.loads(row.sample), json.loads(row.results)
            if len(rows) < READ_BATCH:
                return
            after = rows[-1].datasource_item_id

    async def save_items(
        self,
        plan: RunPlan,
        attempt: int,
        items: Sequence[NewOutputItem],
        tally: RunTally,
        *,
        now_us: int,
    ) -> bool:
        """Store ``items`` (those already stored are skipped), count the stored ones into
        ``tally`` and write its counters, with a heartbeat; False (nothing written) when the
        run is lost."""
        async with self._sessions.begin() as session:
            if not await _fenced(session, plan.run_id, attempt, {"heartbeat_at": now_us // 10**6}):
                return False
            if items:
                stored = await _insert_new(session, plan, items, now_us)
                for item in items:
                    if item.datasource_item_id in stored:
                        tally.add(item.status, item.sample, item.results)
            await _fenced(session, plan.run_id, attempt, _counters(tally))
            return True

    async def finish(
        self, run_id: str, attempt: int, tally: RunTally, *, total_items: int, now_s: int
    ) -> bool:
        """``in_progress → completed`` with the final counters; False when the run is lost."""
        values = _counters(tally) | {
            "status": RunStatus.COMPLETED.value,
            "total_items": total_items,
            "finished_at": now_s,
            "heartbeat_at": now_s,
        }
        async with self._sessions.begin() as session:
            return await _fenced(session, run_id, attempt, values)

    async def hand_back(self, run_id: str, attempt: int) -> bool:
        """``in_progress → queued`` (a worker shutting down); the next attempt resumes it."""
        values = {"status": RunStatus.QUEUED.value, "heartbeat_at": None}
        async with self._sessions.begin() as session:
            return await _fenced(session, run_id, attempt, values)

    async def fail(self, run_id: str, attempt: int, error: dict[str, str], *, now_s: int) -> bool:
        """The run fails with ``error`` if attempt ``attempt`` owns it, would, or just gave
        it back."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(EvalRunRow)
                .where(
                    EvalRunRow.id == run_id,
                    or_(
                        and_(
                            EvalRunRow.status == RunStatus.QUEUED.value,
                            EvalRunRow.attempts.in_([attempt - 1, attempt]),
                        ),
                        and_(
                            EvalRunRow.status == RunStatus.IN_PROGRESS.value,
                            EvalRunRow.attempts == attempt,
                        ),
                    ),
                )
                .values(status=RunStatus.FAILED.value, error=dump_json(error), finished_at=now_s)
                .execution_options(synchronize_session=False)
            )
            return _changed(result)


async def _fenced(session: AsyncSession, run_id: str, attempt: int, values: dict[str, Any]) -> bool:
    result = await session.execute(
        update(EvalRunRow)
        .where(
            EvalRunRow.id == run_id,
            EvalRunRow.status == RunStatus.IN_PROGRESS.value,
            EvalRunRow.attempts == attempt,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def _insert_new(
    session: AsyncSession, plan: RunPlan, items: Sequence[NewOutputItem], now_us: int
) -> set[int]:
    """Insert the items no earlier attempt stored; returns the ids this insert stored."""
    dialect = session.get_bind().dialect.name
    statement = _INSERT_NEW["postgresql" if dialect == "postgresql" else "sqlite"]
    rows = [
        {
            "id": item.id,
            "run_id": plan.run_id,
            "eval_id": plan.eval_id,
            "project_id": plan.project_id,
            "datasource_item_id": item.datasource_item_id,
            "datasource_item": dump_json(item.datasource_item),
            "sample": dump_json(item.sample),
            "results": dump_json(list(item.results)),
            "status": item.status.value,
            "created_at": now_us // 10**6,
            "created_us": now_us + offset,  # distinct, so pages keep the item order
        }
        for offset, item in enumerate(items)
    ]
    # One statement, executed for many rows (SQLAlchemy batches them into multi-row INSERTs
    # with RETURNING): built once and compiled once, where a statement holding the rows as
    # literal VALUES cost more to compile than the whole grading of a string_check batch.
    return set((await session.execute(statement, rows)).scalars())


_INSERT_NEW = {
    name: dialect.insert(EvalOutputItemRow)
    .on_conflict_do_nothing(index_elements=["run_id", "datasource_item_id"])
    .returning(EvalOutputItemRow.datasource_item_id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _counters(tally: RunTally) -> dict[str, Any]:
    return {
        "result_counts": encode_result_counts(tally.result_counts()),
        "per_testing_criteria_results": encode_criteria_results(tally.criteria_results()),
        "per_model_usage": encode_model_usage(tally.model_usage()),
    }


def _changed(result: Any) -> bool:
    return bool(result.rowcount)
