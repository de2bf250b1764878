"""One claimed attempt of a run: its rows through ``ItemGrader``, a bounded number at once, the
output items stored in batches, then ``in_progress → completed``.

    every heartbeat_interval_s          store what is graded, rewrite the counters, stamp the
                                          heartbeat; a refused stamp (cancelled, or re-queued and
                                          claimed by another worker) stops the attempt: nothing
                                          new starts, what is in flight is dropped unsaved
    a full batch                        stored at once (the rows wait for it: back-pressure)
    an item already stored              skipped, never sampled again (a restarted run)
    the end                             counters recounted from every stored item, then the
                                          compare-and-set to completed
    cancelled (worker shutdown)         the run goes back to queued and its next attempt is
                                          queued; an outage propagates for the task policy
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from service.clock import Clock, to_seconds
from service.evals.execution.item_grading import ItemGrader
from service.evals.execution.sources import RunSource, SourceRow
from service.evals.execution.tally import RunTally
from service.evals.execution.work_store import NewOutputItem, RunPlan, RunWorkStore

logger = logging.getLogger(__name__)

SAVE_BATCH = 200  # output items per insert; each flush is one transaction


class AttemptLost(Exception):
    """The run was cancelled, or re-queued and claimed by another attempt."""


class RunAttempt:
    """Executes attempt ``attempt`` of ``plan`` once it is claimed."""

    def __init__(
        self,
        plan: RunPlan,
        attempt: int,
        store: RunWorkStore,
        clock: Clock,
        *,
        max_in_flight: int,
        heartbeat_interval_s: float,
    ) -> None:
        self._plan = plan
        self._attempt = attempt
        self._store = store
        self._clock = clock
        self._max_in_flight = max_in_flight
        self._heartbeat_interval_s = heartbeat_interval_s
        self._graded: list[NewOutputItem] = []
        self._tally = RunTally(plan.criteria_names)
        self._save_lock = asyncio.Lock()
        self._stopped = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._saving = False  # while the tally is being counted, the heartbeat only stamps

    async def run(self, source: RunSource, grader: ItemGrader) -> bool:
        """Grade every row not stored yet and complete the run; False when the attempt lost
        the run on the way (nothing more is written then)."""
        plan, store = self._plan, self._store
        # Beating from the start: counting a large file or many stored items takes a while.
        heartbeat = asyncio.create_task(self._heartbeat(), name=f"heartbeat-{plan.run_id}")
        try:
            total = await source.count()
            if not await store.beat(
                plan.run_id, self._attempt, now_s=self._now_s(), total_items=total
            ):
                return False
            done = await store.graded_item_ids(plan.run_id)
            await self._count_stored()
            self._saving = True
            await self._grade_rows(source, grader, done)
            await self._save()
            self._saving = False
            self._tally = RunTally(plan.criteria_names)
            await self._count_stored()  # the report is recounted from the items, never trusted
        except AttemptLost:
            return False
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        stored = self._tally.result_counts().total
        if stored != total:
            raise RuntimeError(f"eval run {plan.run_id}: {stored} of {total} items stored")
        finished = await store.finish(
            plan.run_id, self._attempt, self._tally, total_items=total, now_s=self._now_s()
        )
        if finished:
            logger.info("eval run completed", extra={"run_id": plan.run_id, "items": total})
        return finished

    async def _grade_rows(self, source: RunSource, grader: ItemGrader, done: set[int]) -> None:
        slots = asyncio.Semaphore(self._max_in_flight)
        failures: list[BaseException] = []

        def finished(task: asyncio.Task[None]) -> None:
            self._in_flight.discard(task)
            slots.release()
            if not task.cancelled() and (failure := task.exception()) is not None:
                failures.append(failure)  # an outage: stop, and raise it below
                self._stop()

        try:
            async for row in source.rows():
                if row.index in done:
                    continue
                await slots.acquire()
                if self._stopped.is_set():
                    slots.release()
                    break
                task = asyncio.create_task(self._grade_one(grader, row))
                self._in_flight.add(task)
                task.add_done_callback(finished)
                if len(self._graded) >= SAVE_BATCH:
                    await self._save()
            if self._in_flight:
                await asyncio.wait(set(self._in_flight))
        finally:
            for task in self._in_flight:
                task.cancel()
            if self._in_flight:
                await asyncio.wait(set(self._in_flight))
        if failures:
            raise failures[0]
        if self._stopped.is_set():
            raise AttemptLost(self._plan.run_id)

    async def _grade_one(self, grader: ItemGrader, row: SourceRow) -> None:
        item = await grader.grade(row)
        # Looked up after the await: a save meanwhile replaced the list.
        self._graded.append(item)

    def _stop(self) -> None:
        """Start nothing new, and drop what is in flight (its items would be refused)."""
        self._stopped.set()
        for task in self._in_flight:
            task.cancel()

    async def _save(self) -> None:
        """Store what is graded so far, with the counters and a heartbeat (one at a time)."""
        async with self._save_lock:
            batch, self._graded = self._graded, []
            batch.sort(key=lambda item: item.datasource_item_id)
            while True:
                chunk, rest = batch[:SAVE_BATCH], batch[SAVE_BATCH:]
                try:
                    saved = await self._store.save_items(
                        self._plan, self._attempt, chunk, self._tally, now_us=self._clock.now_us()
                    )
                except BaseException:
                    self._graded[:0] = batch  # kept for the next try; never silently dropped
                    raise
                if not saved:
                    self._stop()
                    raise AttemptLost(self._plan.run_id)
                batch = rest
                if not batch:
                    return

    async def _heartbeat(self) -> None:
        """Save and stamp every interval; a refused stamp stops the attempt."""
        while True:
            await asyncio.sleep(self._heartbeat_interval_s)
            try:
                if self._saving:
                    await self._save()
                elif not await self._store.beat(
                    self._plan.run_id, self._attempt, now_s=self._now_s()
                ):
                    self._stop()
                    raise AttemptLost(self._plan.run_id)
            except AttemptLost:
                logger.info(
                    "eval run attempt lost its claim (cancelled or re-queued); stopping",
                    extra={"run_id": self._plan.run_id, "attempt": self._attempt},
                )
                return
            except Exception as exc:  # an outage: the rows' own saves raise it for the policy
                logger.warning(
                    "eval run heartbeat failed: %s", exc, extra={"run_id": self._plan.run_id}
                )

    async def _count_stored(self) -> None:
        async for status, sample, results in self._store.stored_items(self._plan.run_id):
            self._tally.add(status, sample, results)

    def _now_s(self) -> int:
        return to_seconds(self._clock.now_us())
