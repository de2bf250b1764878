"""Checkpoints are fenced by the attempt's claim (SQLite and PostgreSQL, the local blob store):
a stale attempt's checkpoint is refused, its blobs never touch the live attempt's, it cannot
prune the live attempt's checkpoints, and a later attempt resumes from an earlier one's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gpu_runner.gpu_worker.checkpoints import AttemptCheckpoints
from service.blobstore.directories import download_directory
from service.blobstore.keys import checkpoint_prefix, job_prefix
from service.jobs.records import JobRecord
from tests.support.attempts import AttemptWorld, attempt_world


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AttemptWorld]:
    if request.param == "postgres":
        request.getfixturevalue("postgres")
    async with attempt_world(request.param, tmp_path) as built:
        yield built


def checkpoints(world: AttemptWorld, job: JobRecord, keep: int = 3) -> AttemptCheckpoints:
    return AttemptCheckpoints(job, world.jobs, world.blobs, world.pending, world.clock, keep=keep)


def checkpoint_dir(root: Path, step: int, weights: str) -> Path:
    """A checkpoint as the trainer leaves it: state beside the adapter in ``adapter/``."""
    directory = root / f"{weights}-{step}"
    (directory / "adapter").mkdir(parents=True)
    (directory / "state.json").write_text(json.dumps({"step": step}))
    (directory / "adapter" / "adapter_model.safetensors").write_text(weights)
    return directory


async def steps_recorded(world: AttemptWorld, job_id: str) -> list[tuple[int, str]]:
    page = await world.jobs.checkpoints_page(job_id, after_id=None, limit=100)
    return sorted((record.step_number, record.blob_prefix) for record in page.items)


async def save(
    world: AttemptWorld, job: JobRecord, tmp_path: Path, step: int, weights: str, keep: int = 3
) -> bool:
    return await checkpoints(world, job, keep).save(
        step, checkpoint_dir(tmp_path, step, weights), {"train_loss": 1.0}, f"ckpt-{step}"
    )


async def stale_and_live(world: AttemptWorld, job_id: str) -> tuple[JobRecord, JobRecord]:
    """Attempt 1 went silent and was re-queued; attempt 2 holds the job now."""
    await world.queued_job(job_id)
    stale = await world.claim(job_id)
    await world.requeue(stale)
    return stale, await world.claim(job_id)


async def test_a_stale_attempts_checkpoint_is_refused_and_its_blobs_removed(
    world: AttemptWorld, tmp_path: Path
) -> None:
    stale, live = await stale_and_live(world, "ftjob-ckpt")
    assert await save(world, live, tmp_path / "live", 5, "live")
    live_blobs = world.files_under(checkpoint_prefix(world.project_id, live.id, 2, 5))

    assert not await save(world, stale, tmp_path / "stale", 5, "stale")  # the same step
    assert not await save(world, stale, tmp_path / "stale", 8, "stale")  # a newer step

    assert await steps_recorded(world, live.id) == [
        (5, checkpoint_prefix(world.project_id, live.id, 2, 5))
    ]
    assert world.files_under(checkpoint_prefix(world.project_id, live.id, 2, 5)) == live_blobs
    assert world.files_under(f"{job_prefix(world.project_id, live.id)}attempts/1/") == {}
    assert await world.pending_targets() == []
    saved = [m for m in await world.event_messages(live.id) if m.startswith("Checkpoint")]
    assert saved == ["Checkpoint created at step 5: ckpt-5"]


async def test_a_stale_attempt_cannot_prune_the_live_attempts_checkpoints(
    world: AttemptWorld, tmp_path: Path
) -> None:
    stale, live = await stale_and_live(world, "ftjob-prune")
    for step in (1, 2, 3):
        assert await save(world, live, tmp_path / "live", step, "live", keep=3)

    assert not await save(world, stale, tmp_path / "stale", 4, "stale", keep=1)

    assert [step for step, _ in await steps_recorded(world, live.id)] == [1, 2, 3]
    for step in (1, 2, 3):
        assert world.files_under(checkpoint_prefix(world.project_id, live.id, 2, step))


async def test_the_holding_attempt_prunes_rows_and_blobs_of_old_checkpoints(
    world: AttemptWorld, tmp_path: Path
) -> None:
    await world.queued_job("ftjob-keep")
    job = await world.claim("ftjob-keep")
    saver = checkpoints(world, job, keep=2)
    for step in (1, 2, 3):
        assert await saver.save(
            step, checkpoint_dir(tmp_path, step, "w"), {"train_loss": 1.0}, f"ckpt-{step}"
        )

    assert [step for step, _ in await steps_recorded(world, job.id)] == [2, 3]
    assert world.files_under(checkpoint_prefix(world.project_id, job.id, 1, 1)) == {}
    assert world.files_under(checkpoint_prefix(world.project_id, job.id, 1, 3))
    assert await world.pending_targets() == []


async def test_pruning_keeps_the_best_checkpoint_by_the_jobs_metric(
    world: AttemptWorld, tmp_path: Path
) -> None:
    await world.queued_job("ftjob-best")
    job = await world.claim("ftjob-best")
    saver = checkpoints(world, job, keep=2)
    for step, loss in ((1, 2.0), (2, 0.5), (3, 0.9), (4, 0.7), (5, 0.8)):
        metrics = {"train_loss": 1.0, "valid_loss": loss}
        directory = checkpoint_dir(tmp_path, step, "w")
        assert await saver.save(step, directory, metrics, f"ckpt-{step}", best_metric="valid_loss")

    assert [step for step, _ in await steps_recorded(world, job.id)] == [2, 4, 5]
    assert world.files_under(checkpoint_prefix(world.project_id, job.id, 1, 2))
    assert world.files_under(checkpoint_prefix(world.project_id, job.id, 1, 3)) == {}
    assert await world.pending_targets() == []


async def test_a_cancelled_jobs_runner_records_no_checkpoint(
    world: AttemptWorld, tmp_path: Path
) -> None:
    await world.queued_job("ftjob-gone")
    job = await world.claim("ftjob-gone")
    await world.cancel(job.id)

    assert not await save(world, job, tmp_path, 1, "w")

    assert await steps_recorded(world, job.id) == []
    assert world.files_under(job_prefix(world.project_id, job.id)) == {}


async def test_an_attempt_writes_a_step_once_and_never_over_its_recorded_checkpoint(
    world: AttemptWorld, tmp_path: Path
) -> None:
    """A trainer may save the step it just saved again (a pause right after a checkpoint)."""
    await world.queued_job("ftjob-twice")
    job = await world.claim("ftjob-twice")
    saver = checkpoints(world, job)
    assert await saver.save(4, checkpoint_dir(tmp_path / "a", 4, "first"), {}, "ckpt-4")

    assert not await saver.save(4, checkpoint_dir(tmp_path / "b", 4, "second"), {}, "ckpt-4")

    stored = world.files_under(checkpoint_prefix(world.project_id, job.id, 1, 4))
    adapter = (
        checkpoint_prefix(world.project_id, job.id, 1, 4) + "adapter/adapter_model.safetensors"
    )
    assert stored[adapter] == b"first"


async def test_a_later_attempt_resumes_from_an_earlier_attempts_checkpoint(
    world: AttemptWorld, tmp_path: Path
) -> None:
    await world.queued_job("ftjob-resume")
    first = await world.claim("ftjob-resume")
    assert await save(world, first, tmp_path / "first", 6, "first")
    await world.requeue(first)
    await world.claim("ftjob-resume")

    latest = await world.jobs.latest_checkpoint("ftjob-resume")

    assert latest is not None
    assert latest.blob_prefix == checkpoint_prefix(world.project_id, first.id, 1, 6)
    await download_directory(world.blobs, latest.blob_prefix, tmp_path / "resume")
    assert json.loads((tmp_path / "resume" / "state.json").read_text()) == {"step": 6}
