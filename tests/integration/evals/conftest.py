"""Evals over HTTP: a live api (uvicorn, Redis, SQLite) with a registered base model and no
ctl worker, so runs stay ``queued`` where the test leaves them; output items are seeded into the
database as a worker would write them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from service.auth.store import ProjectStore
from service.clock import SystemClock
from service.db.engine import create_engine, create_session_factory
from service.evals.records import OutputItemRecord, OutputItemStatus
from service.evals.rows import output_item_row
from service.ids import IdPrefix, new_id
from tests.support.http_checks import raw_client
from tests.support.jobs import TINY_MODEL_ID
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, StackConfig, write_registry

ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}
STRING_CHECK = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}


@pytest.fixture(scope="package")
def evals_api(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[ApiServer]:
    """The api with ``TINY_MODEL_ID`` registered (never loaded: nothing here samples it)."""
    root = tmp_path_factory.mktemp("stack-evals")
    registry = root / "models.toml"
    (root / "tiny").mkdir()
    write_registry(registry, {TINY_MODEL_ID: root / "tiny"})
    config = StackConfig(
        data_dir=root / "data",
        redis_url=redis_server.new_database_url(),
        extra_env={"FTAPI_MODELS__REGISTRY_PATH": str(registry)},
    )
    with ApiServer(config, ctl_worker=False) as server:
        yield server


@pytest.fixture
def api_key(evals_api: ApiServer, request: pytest.FixtureRequest) -> str:
    """A key for a project of this test's own."""
    return evals_api.new_key(f"ev-{request.node.name}"[:120])


@pytest.fixture
def client(evals_api: ApiServer, api_key: str) -> Iterator[OpenAI]:
    """The SDK in strict response-validation mode."""
    with OpenAI(
        base_url=evals_api.base_url,
        api_key=api_key,
        _strict_response_validation=True,
        max_retries=0,
    ) as sdk:
        yield sdk


@pytest.fixture
def http(evals_api: ApiServer, api_key: str) -> Iterator[httpx.Client]:
    """Raw HTTP to the api with this test's key."""
    with raw_client(evals_api, api_key) as client:
        yield client


def custom_config(*, include_sample_schema: bool = True) -> dict[str, Any]:
    """A ``custom`` data source config over ``ITEM_SCHEMA``."""
    return {
        "type": "custom",
        "item_schema": ITEM_SCHEMA,
        "include_sample_schema": include_sample_schema,
    }


def jsonl_rows(n: int) -> list[dict[str, Any]]:
    """Inline rows whose samples pass ``STRING_CHECK`` on even rows and fail on odd ones."""
    return [
        {
            "item": {"question": f"q{i}", "answer": f"a{i}"},
            "sample": {"output_text": f"a{i}" if i % 2 == 0 else "wrong"},
        }
        for i in range(n)
    ]


def seed_output_items(
    api: ApiServer, *, project_run: tuple[str, str, str], statuses: list[OutputItemStatus]
) -> list[str]:
    """Insert one output item per status for the run ``(project_id, eval_id, run_id)`` as the
    runner stores them; returns their ids in creation order."""
    project_id, eval_id, run_id = project_run
    records = []
    for index, status in enumerate(statuses):
        now_us = time.time_ns() // 1000 + index
        records.append(
            OutputItemRecord(
                id=new_id(IdPrefix.EVAL_OUTPUT_ITEM),
                run_id=run_id,
                eval_id=eval_id,
                project_id=project_id,
                datasource_item_id=index,
                datasource_item={"question": f"q{index}", "answer": f"a{index}"},
                sample={
                    "input": [],
                    "output": [{"role": "assistant", "content": f"a{index}"}],
                    "model": "",
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                },
                results=(
                    {
                        "name": "exact",
                        "type": "string_check",
                        "passed": status is OutputItemStatus.PASS,
                        "score": 1.0 if status is OutputItemStatus.PASS else 0.0,
                        "sample": None,
                        "metadata": {"errors": {}},
                        "sub_rewards": {},
                    },
                ),
                status=status,
                created_at=now_us // 1_000_000,
                created_us=now_us,
            )
        )
    asyncio.run(_insert(api.config, records))
    return [record.id for record in records]


async def _insert(config: StackConfig, records: list[OutputItemRecord]) -> None:
    engine = create_engine(config.settings().database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            session.add_all([output_item_row(record) for record in records])
    finally:
        await engine.dispose()


def project_of(api: ApiServer, api_key: str) -> str:
    """The project id an API key belongs to."""
    return asyncio.run(_project_of(api.config, api_key))


async def _project_of(config: StackConfig, api_key: str) -> str:
    engine = create_engine(config.settings().database_url)
    try:
        store = ProjectStore(create_session_factory(engine), SystemClock())
        caller = await store.authenticate(api_key, last_used_resolution_s=3600)
        assert caller is not None
        return caller.project_id
    finally:
        await engine.dispose()
