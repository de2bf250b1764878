"""A cron pass gives up on a failing row once, goes on with the others, and stops on an outage."""

from __future__ import annotations

import pytest

from service.blobstore import BlobStoreUnavailable
from service.queue.names import TaskName
from service.queue.poisoned_rows import PoisonedRows


async def _pass(rows: PoisonedRows, ids: list[str], handled: list[str], fail: str) -> None:
    for row_id in rows.fresh(ids, str):
        async with rows.handling(row_id):
            if row_id == fail:
                raise ValueError(f"bad row {row_id}")
            handled.append(row_id)


async def test_a_failing_row_is_given_up_once_and_the_rest_are_handled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = PoisonedRows(TaskName.SWEEP)
    handled: list[str] = []

    await _pass(rows, ["a", "b", "c"], handled, fail="a")
    first = rows.take_given_up()
    await _pass(rows, ["a", "b", "c"], handled, fail="a")

    assert handled == ["b", "c", "b", "c"]
    assert (first, rows.take_given_up()) == (1, 0)
    assert rows.skips("a")
    assert [r.getMessage() for r in caplog.records] == ["sweep gave up on a; later passes skip it"]


async def test_an_outage_stops_the_pass_and_forgets_nothing() -> None:
    rows = PoisonedRows(TaskName.RECONCILE)

    with pytest.raises(BlobStoreUnavailable):
        async with rows.handling("a"):
            raise BlobStoreUnavailable("away")

    assert not rows.skips("a")
    assert rows.take_given_up() == 0


class DueRows:
    """A due-row query over ``ids`` in order: given-up rows stay due, handled rows leave."""

    def __init__(self, ids: list[str]) -> None:
        self.due = list(ids)

    async def first(self, limit: int) -> list[str]:
        return self.due[:limit]


async def _drain(rows: PoisonedRows, query: DueRows, poisoned: set[str], batch: int) -> list[str]:
    """One cron pass over a batch: poisoned rows raise, others are handled and leave."""
    handled: list[str] = []
    for row_id in await rows.fetch_fresh(query.first, str, limit=batch):
        async with rows.handling(row_id):
            if row_id in poisoned:
                raise ValueError(f"bad row {row_id}")
            query.due.remove(row_id)
            handled.append(row_id)
    return handled


async def test_more_given_up_rows_than_a_batch_do_not_hide_the_rows_after_them() -> None:
    rows = PoisonedRows(TaskName.SWEEP)
    poisoned = {"a", "b", "c"}
    query = DueRows(["a", "b", "c", "d", "e", "f"])

    passes = [await _drain(rows, query, poisoned, batch=2) for _ in range(4)]

    # A query for just the batch would return "a" and "b" on every pass after the first, and
    # the cron would never reach "d": each pass asks for one more row per row given up on.
    assert passes == [[], ["d"], ["e", "f"], []]
    assert rows.take_given_up() == 3
    assert query.due == ["a", "b", "c"]
