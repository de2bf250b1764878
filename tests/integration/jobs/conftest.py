"""A live stack for job tests: api, a ctl worker and two gpu workers with the test trainer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.support.jobs import stack_config
from tests.support.services import RedisServer
from tests.support.stack import ApiServer


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, job_registry: Path
) -> Iterator[ApiServer]:
    config = stack_config(
        tmp_path_factory.mktemp("jobs"), redis_server.new_database_url(), job_registry
    )
    with ApiServer(config, gpu_workers=2) as server:
        yield server


@pytest.fixture
def client(stack: ApiServer, request: pytest.FixtureRequest) -> Iterator[OpenAI]:
    key = stack.new_key(f"p-{request.node.name}"[:120])
    with OpenAI(
        base_url=stack.base_url, api_key=key, _strict_response_validation=True, max_retries=0
    ) as sdk:
        yield sdk
