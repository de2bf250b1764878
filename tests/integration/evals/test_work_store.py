"""The eval worker's fenced writes on SQLite and PostgreSQL: a claim is one compare-and-set, an
item already stored is skipped (whoever stored it), and a worker that lost its run writes
nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, update

from service.auth.store import ProjectStore
from service.clock import SystemClock
from service.db.engine import SessionFactory, create_engine, create_session_factory
from service.db.migrate import upgrade_database_async
from service.db.tables import EvalOutputItemRow, EvalRow, EvalRunRow
from service.evals.execution.tally import RunTally
from service.evals.execution.work_store import Claim, NewOutputItem, RunPlan, RunWorkStore
from service.evals.records import OutputItemStatus, RunStatus
from tests.support.services import create_database, drop_database

CRITERIA = [{"type": "string_check", "name": "exact", "input": "a", "reference": "a"}]


@dataclass(frozen=True)
class World:
    sessions: SessionFactory
    store: RunWorkStore
    project_id: str


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    if request.param == "postgres":
        request.getfixturevalue("postgres")
        url = await create_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'evals.db'}"
    await upgrade_database_async(url)
    engine = create_engine(url)
    try:
        sessions = create_session_factory(engine)
        projects = ProjectStore(sessions, SystemClock())
        project_id = await projects.ensure_project(await projects.ensure_organization("o"), "p")
        yield World(sessions, RunWorkStore(sessions), project_id)
    finally:
        await engine.dispose()
        if request.param == "postgres":
            await drop_database(url)


async def queued_run(world: World, run_id: str) -> RunPlan:
    async with world.sessions.begin() as session:
        session.add(
            EvalRow(
                id=f"eval_{run_id}",
                project_id=world.project_id,
                name="e",
                data_source_config=json.dumps({"type": "custom", "schema": {}}),
                testing_criteria=json.dumps(CRITERIA),
                metadata_json=None,
                created_at=1,
                created_us=1,
            )
        )
        await session.flush()
        session.add(
            EvalRunRow(
                id=run_id,
                eval_id=f"eval_{run_id}",
                project_id=world.project_id,
                name="r",
                status=RunStatus.QUEUED.value,
                model=None,
                data_source=json.dumps({"type": "jsonl"}),
                metadata_json=None,
                error=None,
                total_items=None,
                result_counts="{}",
                per_model_usage="[]",
                per_testing_criteria_results="[]",
                attempts=0,
                heartbeat_at=None,
                created_at=1,
                created_us=1,
                finished_at=None,
            )
        )
    plan = await world.store.plan(run_id)
    assert plan is not None
    return plan


def item(index: int, status: OutputItemStatus = OutputItemStatus.PASS) -> NewOutputItem:
    passed = status is OutputItemStatus.PASS
    return NewOutputItem(
        id=f"outputitem_{index}_{status.value}",
        datasource_item_id=index,
        datasource_item={"i": index},
        sample={"output": [{"role": "assistant", "content": "a"}]},
        results=({"name": "exact", "type": "string_check", "passed": passed, "score": 1.0},),
        status=status,
    )


async def stored(world: World, run_id: str) -> dict[int, str]:
    async with world.sessions.read() as connection:
        rows = await connection.execute(
            select(EvalOutputItemRow.datasource_item_id, EvalOutputItemRow.id).where(
                EvalOutputItemRow.run_id == run_id
            )
        )
        return dict(rows.all())


async def test_a_run_is_claimed_once_and_a_second_claim_loses(world: World) -> None:
    plan = await queued_run(world, "evalrun_claim")

    assert await world.store.claim(plan, 1, now_s=10, max_running_in_project=2) is Claim.CLAIMED
    assert await world.store.claim(plan, 1, now_s=11, max_running_in_project=2) is Claim.GONE


async def test_a_project_at_its_limit_waits(world: World) -> None:
    first = await queued_run(world, "evalrun_first")
    second = await queued_run(world, "evalrun_second")
    assert await world.store.claim(first, 1, now_s=10, max_running_in_project=1) is Claim.CLAIMED

    assert await world.store.claim(second, 1, now_s=10, max_running_in_project=1) is Claim.BUSY


async def test_items_already_stored_are_skipped_and_counted_once(world: World) -> None:
    plan = await queued_run(world, "evalrun_items")
    await world.store.claim(plan, 1, now_s=10, max_running_in_project=2)
    tally = RunTally(plan.criteria_names)
    assert await world.store.save_items(plan, 1, [item(0), item(1)], tally, now_us=10**7)

    # A restarted attempt grades item 1 again (say, a save it never saw committed) and item 2.
    await world.store.hand_back(plan.run_id, 1)
    assert await world.store.claim(plan, 2, now_s=20, max_running_in_project=2) is Claim.CLAIMED
    assert await world.store.graded_item_ids(plan.run_id) == {0, 1}
    again = [item(1, OutputItemStatus.FAIL), item(2, OutputItemStatus.FAIL)]
    assert await world.store.save_items(plan, 2, again, tally, now_us=2 * 10**7)

    items = await stored(world, plan.run_id)
    assert items == {0: "outputitem_0_pass", 1: "outputitem_1_pass", 2: "outputitem_2_fail"}
    counts = tally.result_counts()
    assert (counts.total, counts.passed, counts.failed) == (3, 2, 1)


async def test_a_worker_that_lost_its_run_writes_nothing(world: World) -> None:
    plan = await queued_run(world, "evalrun_lost")
    await world.store.claim(plan, 1, now_s=10, max_running_in_project=2)
    async with world.sessions.begin() as session:  # the api's cancel
        await session.execute(
            update(EvalRunRow)
            .where(EvalRunRow.id == plan.run_id)
            .values(status=RunStatus.CANCELED.value)
        )

    tally = RunTally(plan.criteria_names)
    assert not await world.store.beat(plan.run_id, 1, now_s=11)
    assert not await world.store.save_items(plan, 1, [item(0)], tally, now_us=11 * 10**6)
    assert not await world.store.finish(plan.run_id, 1, tally, total_items=1, now_s=12)
    assert await stored(world, plan.run_id) == {}
    current = await world.store.plan(plan.run_id)
    assert current is not None
    assert current.status is RunStatus.CANCELED
