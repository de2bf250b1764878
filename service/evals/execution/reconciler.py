"""Makes Redis agree with the ``eval_runs`` table again (called by the ctl worker's reconcile
cron, beside the jobs' reconciler).

    a run that is ...                           the pass
    ──────────────────────────────────────────  ─────────────────────────────────────────────
    queued                                      enqueues its next attempt (n+1); a task with
                                                  that key still queued or running is kept
    in_progress, heartbeat older than           drops the dead worker's arq claim, then
      stale_heartbeat_s, attempts < max           in_progress → queued and enqueues n+1 (its
                                                  graded items stay: n+1 skips them)
    the same with attempts >= max_attempts      fails it with ``worker_lost``

Each change is a compare-and-set on the status, attempt and heartbeat the pass read, so a worker
that beat meanwhile keeps its run. Each row is handled on its own (``queue/poisoned_rows.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update

from service.clock import Clock, to_seconds
from service.db.engine import SessionFactory
from service.db.tables import EvalRunRow
from service.evals.records import RunStatus
from service.evals.rows import dump_json
from service.queue.names import QueueName, TaskName, run_eval_key
from service.queue.poisoned_rows import PoisonedRows
from service.queue.protocol import TaskQueue

logger = logging.getLogger(__name__)

BATCH = 1000


@dataclass(frozen=True)
class _Run:
    id: str
    attempts: int
    heartbeat_at: int | None
    created_at: int


class EvalRunReconciler:
    """One pass at a time; safe on several ctl workers (every action is idempotent)."""

    def __init__(
        self,
        sessions: SessionFactory,
        queue: TaskQueue,
        clock: Clock,
        *,
        stale_heartbeat_s: float,
        max_attempts: int,
    ) -> None:
        self._sessions = sessions
        self._queue = queue
        self._clock = clock
        self._stale_heartbeat_s = stale_heartbeat_s
        self._max_attempts = max_attempts
        self.poisoned = PoisonedRows(TaskName.RECONCILE)

    async def run_once(self) -> tuple[int, int, int]:
        """Repair what is found now; returns (enqueued, re-queued, failed)."""
        enqueued = requeued = failed = 0
        for run in await self._due(RunStatus.QUEUED):
            async with self.poisoned.handling(run.id):
                enqueued += await self._enqueue(run.id, run.attempts + 1)
        now_s = to_seconds(self._clock.now_us())
        for run in await self._due(RunStatus.IN_PROGRESS):
            if now_s - (run.heartbeat_at or run.created_at) < self._stale_heartbeat_s:
                continue
            async with self.poisoned.handling(run.id):
                await self._queue.release_claim(run_eval_key(run.id, run.attempts))
                if run.attempts >= self._max_attempts:
                    failed += await self._fail_lost(run, now_s)
                elif await self._requeue(run):
                    requeued += 1
                    await self._enqueue(run.id, run.attempts + 1)
        if enqueued or requeued or failed:
            logger.info(
                "reconciled eval runs",
                extra={"enqueued": enqueued, "requeued": requeued, "failed": failed},
            )
        return enqueued, requeued, failed

    async def _due(self, status: RunStatus) -> list[_Run]:
        return await self.poisoned.fetch_fresh(
            lambda limit: self._in(status, limit), _run_id, limit=BATCH
        )

    async def _in(self, status: RunStatus, limit: int) -> list[_Run]:
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(
                    EvalRunRow.id,
                    EvalRunRow.attempts,
                    EvalRunRow.heartbeat_at,
                    EvalRunRow.created_at,
                )
                .where(EvalRunRow.status == status.value)
                .order_by(EvalRunRow.created_us)
                .limit(limit)
            )
            return [_Run(row.id, row.attempts, row.heartbeat_at, row.created_at) for row in rows]

    async def _enqueue(self, run_id: str, attempt: int) -> bool:
        return await self._queue.enqueue(
            TaskName.RUN_EVAL,
            run_id,
            attempt,
            queue=QueueName.CTL,
            key=run_eval_key(run_id, attempt),
        )

    async def _requeue(self, run: _Run) -> bool:
        return await self._move(run, status=RunStatus.QUEUED.value, heartbeat_at=None)

    async def _fail_lost(self, run: _Run, now_s: int) -> bool:
        error = {
            "code": "worker_lost",
            "message": f"The worker running this eval stopped responding {run.attempts} times; "
            "the run was given up. Its graded items are kept; create a new run to grade the "
            "rest, or contact the operators.",
        }
        return await self._move(
            run, status=RunStatus.FAILED.value, error=dump_json(error), finished_at=now_s
        )

    async def _move(self, run: _Run, **values: object) -> bool:
        """Compare-and-set on what the pass read: still in progress, same attempt and beat."""
        beat = EvalRunRow.heartbeat_at
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(EvalRunRow)
                .where(
                    EvalRunRow.id == run.id,
                    EvalRunRow.status == RunStatus.IN_PROGRESS.value,
                    EvalRunRow.attempts == run.attempts,
                    beat.is_(None) if run.heartbeat_at is None else beat == run.heartbeat_at,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]


def _run_id(run: _Run) -> str:
    return run.id
