"""Handing runs to the ctl workers, and taking them back.

A run's row is the truth; a task only says "look at this run now". A run is enqueued as
``run_eval(run_id, attempt)`` under the key ``run_eval_key(run_id, attempt)``, where ``attempt``
is the start it asks for (a new run: 1). If Redis is away, the run stays ``queued`` and the
reconciler enqueues it later, so neither enqueue nor abort ever fails a request.
"""

from __future__ import annotations

import logging

from service.evals.records import RunRecord
from service.queue.names import QueueName, TaskName, run_eval_key
from service.queue.protocol import TaskQueue

logger = logging.getLogger(__name__)


class RunTasks:
    """The run tasks on the ctl queue."""

    def __init__(self, queue: TaskQueue) -> None:
        self._queue = queue

    async def enqueue(self, run: RunRecord) -> None:
        """Queue the run's next start (best effort)."""
        attempt = run.attempts + 1
        try:
            await self._queue.enqueue(
                TaskName.RUN_EVAL,
                run.id,
                attempt,
                queue=QueueName.CTL,
                key=run_eval_key(run.id, attempt),
            )
        except Exception:
            logger.warning(
                "could not enqueue run_eval; the reconciler will", extra={"run_id": run.id}
            )

    async def abort(self, run: RunRecord) -> None:
        """Drop the run's queued start and cancel its running one (best effort): the worker
        also stops by itself when it sees the row canceled or gone."""
        for attempt in (run.attempts, run.attempts + 1):
            if attempt < 1:
                continue
            try:
                await self._queue.abort(run_eval_key(run.id, attempt))
            except Exception:
                logger.warning("could not abort run_eval", extra={"run_id": run.id})
