"""One api for the Models API tests (SQLite, local disk) offering the tiny model under an id
with a slash, and a way to publish fine-tuned models into its database in-process."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.keys import project_store
from service.auth.caller import Caller
from service.db.engine import create_engine, create_session_factory
from service.models.fine_tuned import FineTunedModelRecord, FineTunedModelStore
from service.models.naming import fine_tuned_model_name
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, StackConfig, write_registry
from tests.support.tiny_model import TinyModels

BASE_MODEL_ID = "ftapi/tiny-chatml"


@pytest.fixture(scope="module")
def models_api(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, tiny_models: TinyModels
) -> Iterator[ApiServer]:
    """A live api whose registry lists the tiny ChatML model as ``BASE_MODEL_ID``."""
    registry = tmp_path_factory.mktemp("models-registry") / "models.toml"
    write_registry(registry, {BASE_MODEL_ID: tiny_models.model_dir("chatml")})
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("models-stack"),
        redis_url=redis_server.new_database_url(),
        extra_env={"FTAPI_MODELS__REGISTRY_PATH": str(registry)},
    )
    with ApiServer(config) as server:
        yield server


def caller_of(server: ApiServer, key: str) -> Caller:
    """Who ``key`` authenticates as in the server's database."""

    async def run() -> Caller:
        async with project_store(server.config.settings()) as store:
            caller = await store.authenticate(key, last_used_resolution_s=0)
        assert caller is not None
        return caller

    return asyncio.run(run())


def publish_model(server: ApiServer, key: str, *, suffix: str = "tuned") -> FineTunedModelRecord:
    """A live fine-tuned model of ``key``'s project, written as publication will write it."""
    caller = caller_of(server, key)
    job_id = "ftjob-" + secrets.token_hex(12)
    record = FineTunedModelRecord(
        id=fine_tuned_model_name(BASE_MODEL_ID, caller.organization_slug, suffix, job_id),
        project_id=caller.project_id,
        organization_id=caller.organization_id,
        job_id=job_id,
        base_model=BASE_MODEL_ID,
        blob_prefix=f"projects/{caller.project_id}/models/{job_id}",
        created_at=1_700_000_000,
    )

    async def run() -> None:
        engine = create_engine(server.config.settings().database_url)
        try:
            assert await FineTunedModelStore(create_session_factory(engine)).insert(record)
        finally:
            await engine.dispose()

    asyncio.run(run())
    return record


def registry_path_of(server: ApiServer) -> Path:
    """The registry file the server reads."""
    return Path(server.config.extra_env["FTAPI_MODELS__REGISTRY_PATH"])
