"""One row of a cron pass that keeps failing must not stop the rows after it.

A cron (the reconciler, the sweeps) fetches its due rows through ``rows.fetch_fresh`` and
handles each one inside ``rows.handling(row_id)``:

    handling the row ...            what happens
    ──────────────────────────────  ──────────────────────────────────────────────────────────
    returns                         the pass goes on
    hits an outage (outages.py)     re-raised: the pass stops, and the next tick retries it
    raises anything else            logged once with its traceback, remembered, and counted
                                      when the pass ends; the pass goes on with the next row

A remembered row is left out of every later pass of this process, so a bug that recurs on
every tick is logged and counted once instead of forever. The memory is the process's: a
restarted worker, perhaps running the fix, tries the row again. Nothing is written to the row:
a cron cannot tell "this row is bad" from "this code is bad", and marking good data as broken
would outlive the fix.

So a given-up row stays due, and a due-row query keeps finding it. ``fetch_fresh`` asks the
query for as many more rows as it remembers: those can include every remembered row but still
hold a full batch of the others, so given-up rows never hide the rows behind them, whatever
order the query returns.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

from service.queue.names import TaskName
from service.queue.outages import is_outage

logger = logging.getLogger(__name__)

Row = TypeVar("Row")


class PoisonedRows:
    """The rows one cron's passes gave up on in this process."""

    def __init__(self, task: TaskName) -> None:
        self._task = task
        self._skipped: set[str] = set()
        self._uncounted = 0

    def skips(self, row_id: str) -> bool:
        """Whether an earlier pass gave up on ``row_id``."""
        return row_id in self._skipped

    def fresh(self, rows: Iterable[Row], row_id: Callable[[Row], str]) -> list[Row]:
        """``rows`` without those an earlier pass gave up on (for rows that are all there is;
        a query with a limit goes through ``fetch_fresh``)."""
        return [row for row in rows if not self.skips(row_id(row))]

    async def fetch_fresh(
        self,
        fetch: Callable[[int], Awaitable[Sequence[Row]]],
        row_id: Callable[[Row], str],
        *,
        limit: int,
    ) -> list[Row]:
        """Up to ``limit`` due rows an earlier pass did not give up on; ``fetch(n)`` returns
        at most ``n`` due rows."""
        found = await fetch(limit + len(self._skipped))
        return self.fresh(found, row_id)[:limit]

    @asynccontextmanager
    async def handling(self, row_id: str) -> AsyncIterator[None]:
        """Handle one row: an outage stops the pass, any other failure skips the row."""
        try:
            yield
        except Exception as exc:
            if is_outage(exc):
                raise
            self._skipped.add(row_id)
            self._uncounted += 1
            logger.error(
                "%s gave up on %s; later passes skip it",
                self._task.value,
                row_id,
                exc_info=exc,
                extra={"task": self._task.value, "row_id": row_id},
            )

    def take_given_up(self) -> int:
        """How many rows were given up since the last call (the cron policy counts them)."""
        given_up, self._uncounted = self._uncounted, 0
        return given_up
