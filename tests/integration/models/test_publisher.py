"""The fenced publication on a real database (SQLite and PostgreSQL) and the local blob store:
an adapter becomes a model only in the transaction of its attempt's ``running → succeeded``
compare-and-set, and an attempt that lost its claim leaves no model, no results file and no
blobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.blobstore.directories import read_manifest
from service.blobstore.keys import adapter_prefix, file_key
from service.jobs import messages
from service.jobs.records import JobRecord
from service.jobs.state_machine import JobStatus
from service.models.parity_probes import ProbeKind, ProbeReference, ProbeSet
from service.models.pending_blobs import PendingBlobSweeper
from service.models.publisher import PublicationFence, TrainedAdapter
from tests.support.attempts import AttemptWorld, attempt_world, write_adapter

CSV = b"step,train_loss\n1,0.5\n"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AttemptWorld]:
    if request.param == "postgres":
        request.getfixturevalue("postgres")
    async with attempt_world(request.param, tmp_path) as built:
        yield built


class Succeed:
    """The runner's fence: ``running → succeeded`` on the attempt, with its two events."""

    def __init__(self, world: AttemptWorld, job: JobRecord) -> None:
        self.world = world
        self.job = job
        self.finished: JobRecord | None = None

    async def __call__(self, session: AsyncSession, model: str, results_file_id: str) -> bool:
        self.finished = await self.world.jobs.transition_in(
            session,
            self.job.id,
            JobStatus.RUNNING,
            JobStatus.SUCCEEDED,
            [messages.model_created(model), messages.succeeded()],
            expected_attempt=self.job.attempt,
            fine_tuned_model=model,
            result_files=[results_file_id],
            finished_at=1,
        )
        return self.finished is not None


def trained(world: AttemptWorld, job: JobRecord, tmp_path: Path, weights: bytes) -> TrainedAdapter:
    return TrainedAdapter(
        model=f"ft:org/base:acme::{job.id}",
        project_id=world.project_id,
        organization_id=world.organization_id,
        job_id=job.id,
        attempt=job.attempt,
        base_model="org/base",
        adapter_dir=write_adapter(tmp_path / f"adapter-{job.attempt}", weights),
        step_metrics_csv=CSV,
    )


async def test_the_holding_attempt_publishes_model_results_and_outcome_together(
    world: AttemptWorld, tmp_path: Path
) -> None:
    await world.queued_job("ftjob-win")
    job = await world.claim("ftjob-win")
    fence = Succeed(world, job)

    assert await world.publisher.publish(trained(world, job, tmp_path, b"weights"), fence)

    prefix = adapter_prefix(world.project_id, job.id, 1)
    assert await world.model_rows() == [(f"ft:org/base:acme::{job.id}", prefix)]
    finished = await world.jobs.get_any(job.id)
    assert finished is not None
    assert finished.status is JobStatus.SUCCEEDED
    assert finished.fine_tuned_model == f"ft:org/base:acme::{job.id}"
    assert await world.file_ids() == finished.result_files
    results = world.files_under(file_key(world.project_id, finished.result_files[0]))
    assert list(results.values()) == [CSV]
    assert world.files_under(prefix)[f"{prefix}adapter_model.safetensors"] == b"weights"
    assert await world.event_messages(job.id) == [
        f"New fine-tuned model created: ft:org/base:acme::{job.id}",
        "The job has successfully completed",
    ]
    assert await world.pending_targets() == []  # adopted by the publication


async def test_the_parity_probes_travel_in_the_adapter_manifest(
    world: AttemptWorld, tmp_path: Path
) -> None:
    await world.queued_job("ftjob-probes")
    job = await world.claim("ftjob-probes")
    probes = ProbeSet(
        (ProbeReference("text-1", ProbeKind.COMPLETION, (4, 2), (-0.5, -0.25), (1.0, 2.0)),)
    )
    adapter = replace(trained(world, job, tmp_path, b"w"), parity_probes=probes.to_json())

    assert await world.publisher.publish(adapter, Succeed(world, job))

    manifest = await read_manifest(world.blobs, adapter_prefix(world.project_id, job.id, 1))
    assert manifest is not None
    assert ProbeSet.from_manifest(manifest) == probes
    assert set(manifest["files"]) == {"adapter_config.json", "adapter_model.safetensors"}


async def test_a_cancel_between_upload_and_transition_leaves_no_model_and_no_adapter(
    world: AttemptWorld, tmp_path: Path
) -> None:
    await world.queued_job("ftjob-cancel")
    job = await world.claim("ftjob-cancel")
    succeed = Succeed(world, job)

    async def cancelled_first(session: AsyncSession, model: str, results_file_id: str) -> bool:
        # The uploads are done; the cancel lands before the attempt's compare-and-set.
        assert world.files_under(adapter_prefix(world.project_id, job.id, 1))
        await world.cancel(job.id)
        return await succeed(session, model, results_file_id)

    fence: PublicationFence = cancelled_first
    assert not await world.publisher.publish(trained(world, job, tmp_path, b"w"), fence)

    assert await world.model_rows() == []
    assert await world.file_ids() == []
    assert world.files_under(f"projects/{world.project_id}/") == {}  # adapter and results gone
    assert await world.pending_targets() == []
    after = await world.jobs.get_any(job.id)
    assert after is not None
    assert after.status is JobStatus.CANCELLED
    assert after.fine_tuned_model is None
    assert after.result_files == []
    assert not any("model created" in m for m in await world.event_messages(job.id))


async def test_a_zombie_attempt_publishes_nothing_and_overwrites_nothing(
    world: AttemptWorld, tmp_path: Path
) -> None:
    await world.queued_job("ftjob-zombie")
    zombie = await world.claim("ftjob-zombie")
    await world.requeue(zombie)  # its heartbeat went stale
    live = await world.claim("ftjob-zombie")
    assert await world.publisher.publish(
        trained(world, live, tmp_path, b"live weights"), Succeed(world, live)
    )
    published = world.files_under(adapter_prefix(world.project_id, live.id, live.attempt))

    assert not await world.publisher.publish(
        trained(world, zombie, tmp_path, b"zombie weights"), Succeed(world, zombie)
    )

    assert world.files_under(adapter_prefix(world.project_id, live.id, live.attempt)) == published
    assert world.files_under(adapter_prefix(world.project_id, zombie.id, zombie.attempt)) == {}
    assert [prefix for _, prefix in await world.model_rows()] == [
        adapter_prefix(world.project_id, live.id, live.attempt)
    ]
    assert len(await world.file_ids()) == 1
    messages_seen = await world.event_messages(live.id)
    assert messages_seen.count("The job has successfully completed") == 1


async def test_uploads_the_sweep_doomed_are_not_adopted_and_the_outcome_rolls_back(
    world: AttemptWorld, tmp_path: Path
) -> None:
    await world.queued_job("ftjob-late")
    job = await world.claim("ftjob-late")
    succeed = Succeed(world, job)
    sweeper = PendingBlobSweeper(world.pending, world.blobs, world.clock, grace_s=0)

    async def swept_first(session: AsyncSession, model: str, results_file_id: str) -> bool:
        # A runner that took longer than the grace period: the sweep got there first.
        assert await sweeper.run_once() == 2
        return await succeed(session, model, results_file_id)

    assert not await world.publisher.publish(trained(world, job, tmp_path, b"w"), swept_first)

    assert await world.model_rows() == []
    after = await world.jobs.get_any(job.id)
    assert after is not None
    assert after.status is JobStatus.RUNNING  # the compare-and-set was rolled back with the rest
    assert await world.event_messages(job.id) == []
