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
