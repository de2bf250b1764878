"""``MergedExports.ensure`` on a real local blob store and a real arq queue (Redis): which
request queues which build attempt, and when a build counts as lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.blobstore import LocalBlobStore
from service.models.access import AdapterKind, AdapterModel
from service.models.merged_exports import (
    STALE_HEARTBEAT_S,
    ExportError,
    ExportRecord,
    ExportStatus,
    MergedExports,
    build_task_key,
    export_prefix,
    read_record,
    write_record,
)
from service.queue.arq_queue import ArqTaskQueue, arq_redis

ADAPTER = AdapterModel(
    name="ft:ftapi/tiny-chatml:org:merged:ftjob-abc",
    kind=AdapterKind.MODEL,
    project_id="proj_1",
    job_id="ftjob-abc",
    base_model="ftapi/tiny-chatml",
    blob_prefix="projects/proj_1/jobs/ftjob-abc/attempts/1/adapter/",
    created=1,
)


class SetClock:
    """A clock the test moves (pure logic: time is an input here)."""

    def __init__(self) -> None:
        self.seconds = 1_000_000

    def now_us(self) -> int:
        return self.seconds * 1_000_000


@pytest.fixture
async def queue(redis_url: str) -> AsyncIterator[ArqTaskQueue]:
    redis = arq_redis(redis_url)
    try:
        yield ArqTaskQueue(redis)
    finally:
        await redis.aclose(close_connection_pool=True)


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    (tmp_path / "blobs").mkdir()
    return LocalBlobStore(tmp_path / "blobs")


async def test_the_first_request_queues_attempt_one_and_later_ones_wait_for_it(
    blobs: LocalBlobStore, queue: ArqTaskQueue
) -> None:
    clock = SetClock()
    exports = MergedExports(blobs, queue, clock)
    first = await exports.ensure(ADAPTER)
    assert (first.status, first.attempt, first.started_at) == (ExportStatus.IN_PROGRESS, 1, None)
    assert await queue.is_pending(build_task_key("proj_1", ADAPTER.name, 1))
    assert await read_record(blobs, export_prefix(ADAPTER)) == first

    clock.seconds += 3600  # queued behind a long training run: still waiting, not lost
    assert await exports.ensure(ADAPTER) == first


async def test_a_started_build_whose_heartbeat_stopped_is_queued_again(
    blobs: LocalBlobStore, queue: ArqTaskQueue
) -> None:
    clock = SetClock()
    exports = MergedExports(blobs, queue, clock)
    queued = await exports.ensure(ADAPTER)
    prefix = export_prefix(ADAPTER)
    started = queued.model_copy(update={"started_at": clock.seconds})
    await write_record(blobs, prefix, started)

    clock.seconds += STALE_HEARTBEAT_S - 1
    assert await exports.ensure(ADAPTER) == started
    beating = started.model_copy(update={"heartbeat_at": clock.seconds})
    await write_record(blobs, prefix, beating)
    clock.seconds += STALE_HEARTBEAT_S - 1
    assert await exports.ensure(ADAPTER) == beating

    clock.seconds += 2  # the worker died: its task is still claimed, but its heartbeat is old
    again = await exports.ensure(ADAPTER)
    assert (again.status, again.attempt, again.created_at) == (
        ExportStatus.IN_PROGRESS,
        2,
        queued.created_at,
    )
    assert await queue.is_pending(build_task_key("proj_1", ADAPTER.name, 2))


async def test_a_failed_export_stays_failed_until_retried_and_a_built_one_is_kept(
    blobs: LocalBlobStore, queue: ArqTaskQueue
) -> None:
    clock = SetClock()
    exports = MergedExports(blobs, queue, clock)
    prefix = export_prefix(ADAPTER)
    failed = ExportRecord(
        model=ADAPTER.name,
        status=ExportStatus.FAILED,
        attempt=3,
        created_at=clock.seconds,
        queued_at=clock.seconds,
        error=ExportError(code="merged_logits_mismatch", message="differ"),
    )
    await write_record(blobs, prefix, failed)
    assert await exports.ensure(ADAPTER) == failed
    retried = await exports.ensure(ADAPTER, retry=True)
    assert (retried.status, retried.attempt, retried.error) == (ExportStatus.IN_PROGRESS, 4, None)

    built = retried.model_copy(update={"status": ExportStatus.SUCCEEDED, "report": {"x": 1}})
    await write_record(blobs, prefix, built)
    assert await exports.ensure(ADAPTER, retry=True) == built  # retry never rebuilds a good one
