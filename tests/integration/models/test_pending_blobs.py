"""The pending blobs sweep (SQLite and the local blob store): what an attempt uploaded but never
published goes after the grace period, and nothing a row refers to ever goes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpu_runner.gpu_worker.checkpoints import AttemptCheckpoints
from service.blobstore.keys import adapter_object_key, adapter_prefix, checkpoint_prefix, file_key
from service.models.pending_blobs import PendingBlobStore, PendingBlobSweeper
from tests.support.attempts import AttemptWorld, attempt_world, write_adapter

NOW_S = 1_800_000_000
GRACE_S = 3600


@dataclass
class SettableClock:
    now_s: int = NOW_S

    def now_us(self) -> int:
        return self.now_s * 1_000_000


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[AttemptWorld]:
    async with attempt_world("sqlite", tmp_path) as built:
        yield built


async def _put(world: AttemptWorld, key: str) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"x"

    await world.blobs.put_stream(key, body())


async def test_an_unpublished_attempts_uploads_go_after_the_grace(
    world: AttemptWorld, tmp_path: Path
) -> None:
    clock = SettableClock()
    pending = PendingBlobStore(world.sessions, clock)
    sweeper = PendingBlobSweeper(pending, world.blobs, clock, grace_s=GRACE_S)
    prefix = adapter_prefix(world.project_id, "ftjob-dead", 1)
    results = file_key(world.project_id, "file-results")
    # The runner died (SIGKILL) after uploading, before its publication's transaction.
    await pending.add("ftjob-dead", 1, [prefix, results])
    await _put(world, adapter_object_key(world.project_id, "ftjob-dead", 1, "manifest.json"))
    await _put(world, results)

    clock.now_s += GRACE_S - 1
    assert await sweeper.run_once() == 0
    assert world.files_under(prefix)

    clock.now_s += 1
    assert await sweeper.run_once() == 2

    assert world.files_under(prefix) == {}
    assert world.files_under(results) == {}
    assert await world.pending_targets() == []
    assert await sweeper.run_once() == 0


async def test_a_sweep_that_died_after_dooming_is_finished_by_the_next(
    world: AttemptWorld,
) -> None:
    clock = SettableClock()
    pending = PendingBlobStore(world.sessions, clock)
    prefix = adapter_prefix(world.project_id, "ftjob-half", 1)
    await pending.add("ftjob-half", 1, [prefix])
    await _put(world, adapter_object_key(world.project_id, "ftjob-half", 1, "manifest.json"))
    assert await pending.doom(prefix)  # ...and the ctl worker died there

    clock.now_s += GRACE_S
    assert await PendingBlobSweeper(pending, world.blobs, clock, grace_s=GRACE_S).run_once() == 1

    assert world.files_under(prefix) == {}
    assert await world.pending_targets() == []


async def test_what_a_row_refers_to_is_never_swept(world: AttemptWorld, tmp_path: Path) -> None:
    clock = SettableClock()
    await world.queued_job("ftjob-kept")
    job = await world.claim("ftjob-kept")
    saver = AttemptCheckpoints(job, world.jobs, world.blobs, world.pending, world.clock, keep=3)
    checkpoint = write_adapter(tmp_path / "checkpoint" / "adapter", b"w").parent
    assert await saver.save(3, checkpoint, {}, "ckpt-3")

    clock.now_s += 10 * GRACE_S
    sweeper = PendingBlobSweeper(
        PendingBlobStore(world.sessions, clock), world.blobs, clock, grace_s=GRACE_S
    )
    assert await sweeper.run_once() == 0

    assert world.files_under(checkpoint_prefix(world.project_id, job.id, 1, 3))
