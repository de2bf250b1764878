"""The sweep cron's steps: a bug in one step or row stops neither the other steps nor rows;
an outage ends the pass."""

from __future__ import annotations

from typing import Any

import pytest

from service.blobstore import BlobStoreUnavailable
from service.blobstore.protocol import AbandonedWrite
from service.ctl_worker.sweep import Sweep
from service.queue.names import TaskName
from service.queue.poisoned_rows import PoisonedRows


class BrokenUploads:
    def __init__(self) -> None:
        self.passes = 0

    async def sweep(self, poisoned: PoisonedRows) -> int:
        self.passes += 1
        raise RuntimeError("the uploads query is broken")


class Files:
    def __init__(self, failure: Exception | None = None) -> None:
        self.passes = 0
        self._failure = failure

    async def delete_expired(self, poisoned: PoisonedRows) -> int:
        self.passes += 1
        if self._failure is not None:
            raise self._failure
        return 0


class Blobs:
    """Abandoned writes ``left``; discarding ``bad`` raises a bug."""

    def __init__(self, ids: list[str], bad: str) -> None:
        self.left = list(ids)
        self.tries: list[str] = []
        self._bad = bad

    async def abandoned_writes(self, older_than_s: float, *, limit: int) -> list[AbandonedWrite]:
        return [AbandonedWrite(id=write_id, object_key=None) for write_id in self.left[:limit]]

    async def discard_abandoned(self, write: AbandonedWrite) -> bool:
        self.tries.append(write.id)
        if write.id == self._bad:
            raise RuntimeError(f"cannot discard {write.id}")
        self.left.remove(write.id)
        return True


class PendingBlobs:
    def __init__(self) -> None:
        self.poisoned = PoisonedRows(TaskName.SWEEP)
        self.passes = 0

    async def run_once(self) -> int:
        self.passes += 1
        return 0


def _sweep(uploads: Any, files: Any, blobs: Any, pending: Any) -> Sweep:
    return Sweep(uploads, files, blobs, pending, abandoned_write_s=60)


async def test_a_failing_step_and_a_failing_row_stop_nothing_after_them() -> None:
    uploads, files, pending = BrokenUploads(), Files(), PendingBlobs()
    blobs = Blobs(["bad", "tmp-1", "tmp-2"], bad="bad")
    sweep = _sweep(uploads, files, blobs, pending)

    first = await sweep.run_once()
    second = await sweep.run_once()

    assert (first, second) == (2, 1)  # the step each pass, the row once
    assert (uploads.passes, files.passes, pending.passes) == (2, 2, 2)
    assert blobs.left == ["bad"]
    assert blobs.tries == ["bad", "tmp-1", "tmp-2"]  # not tried again


async def test_an_outage_ends_the_pass() -> None:
    files, pending = Files(BlobStoreUnavailable("away")), PendingBlobs()
    blobs = Blobs(["tmp-1"], bad="")
    sweep = _sweep(BrokenUploads(), files, blobs, pending)

    with pytest.raises(BlobStoreUnavailable):
        await sweep.run_once()

    assert blobs.tries == []
    assert pending.passes == 0
    assert sweep.poisoned.take_given_up() == 0
