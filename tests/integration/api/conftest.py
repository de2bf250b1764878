"""The api under test, over {SQLite, PostgreSQL} x {local disk, S3 (moto over HTTP)}."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.support.moto_server import MotoS3Server
from tests.support.services import RedisServer, create_database, drop_database
from tests.support.stack import ApiServer, StackConfig

STACKS = ["sqlite-local", "sqlite-s3", "postgres-local", "postgres-s3"]


@pytest.fixture(scope="session", params=STACKS)
def api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    moto_s3: MotoS3Server,
    job_registry: Path,
) -> Iterator[ApiServer]:
    """A live api on one of the four backend combinations (fresh database and bucket)."""
    database, storage = str(request.param).split("-")
    database_url = ""
    if database == "postgres":
        request.getfixturevalue("postgres")
        database_url = asyncio.run(create_database())
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp(f"stack-{request.param}"),
        redis_url=redis_server.new_database_url(),
        database_url=database_url,
        s3_endpoint_url=moto_s3.endpoint_url if storage == "s3" else None,
        s3_bucket=moto_s3.create_bucket() if storage == "s3" else None,
        extra_env={"FTAPI_MODELS__REGISTRY_PATH": str(job_registry)},
    )
    try:
        with ApiServer(config) as server:
            yield server
    finally:
        if database_url:
            asyncio.run(drop_database(database_url))


@pytest.fixture
def api_key(api: ApiServer, request: pytest.FixtureRequest) -> str:
    """A key for a project of this test's own."""
    return api.new_key(f"p-{request.node.name}"[:120])


@pytest.fixture
def client(api: ApiServer, api_key: str) -> Iterator[OpenAI]:
    """The official SDK in strict response-validation mode, pointed at the api."""
    with OpenAI(
        base_url=api.base_url, api_key=api_key, _strict_response_validation=True, max_retries=0
    ) as sdk:
        yield sdk
