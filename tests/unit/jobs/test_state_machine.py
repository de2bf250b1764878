"""The job state machine: the table itself, and the store enforcing it by compare-and-set."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.auth.store import ProjectStore
from service.clock import SystemClock
from service.db.engine import create_engine, create_session_factory
from service.db.migrate import upgrade_database_async
from service.jobs.methods import Hyperparameters, SupervisedSpec
from service.jobs.records import JobRecord, NewEvent
from service.jobs.state_machine import TERMINAL_STATUSES, TRANSITIONS, JobStatus, can_transition
from service.jobs.store import JobStore

ALL_PAIRS = list(itertools.product(JobStatus, JobStatus))


def test_terminal_states_have_no_way_out() -> None:
    for status in JobStatus:
        assert status.is_terminal == (not TRANSITIONS[status])
    assert {s for s in JobStatus if s.is_terminal} == TERMINAL_STATUSES


def test_every_non_terminal_state_can_be_cancelled() -> None:
    for status in JobStatus:
        if not status.is_terminal:
            assert can_transition(status, JobStatus.CANCELLED)


def test_every_state_is_reachable_from_creation() -> None:
    reached = {JobStatus.VALIDATING_FILES}
    frontier = [JobStatus.VALIDATING_FILES]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == set(JobStatus)


@dataclass(frozen=True)
class Tenant:
    """A job store on a migrated database, and the project its jobs belong to."""

    store: JobStore
    project_id: str
    organization_id: str

    async def add_job(self, job_id: str, status: JobStatus) -> None:
        await self.store.insert(
            JobRecord(
                id=job_id,
                project_id=self.project_id,
                organization_id=self.organization_id,
                model="m",
                training_file="file-x",
                validation_file=None,
                suffix=None,
                seed=1,
                method=SupervisedSpec(
                    Hyperparameters(
                        n_epochs="auto", batch_size="auto", learning_rate_multiplier="auto"
                    )
                ),
                integrations=None,
                metadata=None,
                status=status,
                created_at=0,
                created_us=0,
            ),
            [],
        )


@pytest.fixture
async def tenant(tmp_path: Path) -> AsyncIterator[Tenant]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    await upgrade_database_async(url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    projects = ProjectStore(sessions, SystemClock())
    organization_id = await projects.ensure_organization("org")
    project_id = await projects.ensure_project(organization_id, "p")
    try:
        yield Tenant(JobStore(sessions, SystemClock()), project_id, organization_id)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("old", "new"), ALL_PAIRS, ids=lambda s: s.value)
async def test_the_store_allows_exactly_the_table(
    tenant: Tenant, old: JobStatus, new: JobStatus
) -> None:
    """Walk every (old, new) pair against a real database."""
    store = tenant.store
    await tenant.add_job("ftjob-walk", old)
    if not can_transition(old, new):
        with pytest.raises(ValueError, match="not in the table"):
            await store.transition("ftjob-walk", old, new, None)
        return
    moved = await store.transition("ftjob-walk", old, new, NewEvent("moved"))
    assert moved is not None
    assert moved.status is new
    # Compare-and-set: the same move again finds the job no longer in `old`.
    if new is not old:
        assert await store.transition("ftjob-walk", old, new, None) is None
    page = await store.events_page("ftjob-walk", after_id=None, limit=10)
    assert [event.message for event in page.items] == ["moved"]


async def test_a_stale_attempt_loses_the_compare_and_set(tenant: Tenant) -> None:
    store = tenant.store
    await tenant.add_job("ftjob-cas", JobStatus.QUEUED)
    claimed = await store.transition(
        "ftjob-cas", JobStatus.QUEUED, JobStatus.RUNNING, None, expected_attempt=0, attempt=1
    )
    assert claimed is not None
    assert claimed.attempt == 1
    # A runner still holding attempt 0 can neither finish the job nor keep it alive.
    assert (
        await store.transition(
            "ftjob-cas", JobStatus.RUNNING, JobStatus.SUCCEEDED, None, expected_attempt=0
        )
        is None
    )
    assert not await store.update_running("ftjob-cas", 0, heartbeat_us=1)
    assert await store.update_running("ftjob-cas", 1, heartbeat_us=1)
