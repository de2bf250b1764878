"""The reaper runs by itself on the ctl worker: ``DELETE /v1/models/{id}`` through the api, and
with no grace the model's adapter and checkpoint blobs are gone moments later (real Redis, real
ctl worker, SQLite, the local blob store), while a live model's blobs stay."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.blobstore.keys import adapter_object_key, adapter_prefix, checkpoint_object_key
from service.db.engine import create_engine, create_session_factory
from service.models.fine_tuned import FineTunedModelRecord, FineTunedModelStore
from service.wiring.resources import blob_store_from_settings
from tests.integration.models.conftest import BASE_MODEL_ID, caller_of
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, StackConfig, write_registry
from tests.support.tiny_model import TinyModels

REAP_TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def reaping_api(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, tiny_models: TinyModels
) -> Iterator[ApiServer]:
    """An api and ctl worker that reap deleted models' blobs at once, checking every second."""
    registry = tmp_path_factory.mktemp("reaper-registry") / "models.toml"
    write_registry(registry, {BASE_MODEL_ID: tiny_models.model_dir("chatml")})
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("reaper-stack"),
        redis_url=redis_server.new_database_url(),
        extra_env={
            "FTAPI_MODELS__REGISTRY_PATH": str(registry),
            "FTAPI_MODELS__DELETED_BLOB_GRACE_S": "0",
            "FTAPI_JOBS__RECONCILE_INTERVAL_S": "1",
        },
    )
    with ApiServer(config) as server:
        yield server


def publish_with_blobs(server: ApiServer, key: str, job_id: str) -> str:
    """A model row plus its adapter files and two checkpoints of its job in the blob store."""
    caller = caller_of(server, key)
    model_id = f"ft:{BASE_MODEL_ID}:{caller.organization_slug}:reap:{job_id}"

    async def run() -> None:
        settings = server.config.settings()
        blobs = blob_store_from_settings(settings)
        engine = create_engine(settings.database_url)
        try:
            keys = [adapter_object_key(caller.project_id, job_id, 1, "manifest.json")] + [
                checkpoint_object_key(caller.project_id, job_id, 1, step, "adapter/x.safetensors")
                for step in (1, 2)
            ]
            for blob_key in keys:
                await blobs.put_stream(blob_key, _chunks())
            assert await FineTunedModelStore(create_session_factory(engine)).insert(
                FineTunedModelRecord(
                    id=model_id,
                    project_id=caller.project_id,
                    organization_id=caller.organization_id,
                    job_id=job_id,
                    base_model=BASE_MODEL_ID,
                    blob_prefix=adapter_prefix(caller.project_id, job_id, 1),
                    created_at=1_700_000_000,
                )
            )
        finally:
            await blobs.close()
            await engine.dispose()

    asyncio.run(run())
    return model_id


async def _chunks():  # type: ignore[no-untyped-def]
    yield b"adapter bytes"


def job_blobs(server: ApiServer, job_id: str) -> list[Path]:
    """Every file the job's model and checkpoints have on the local blob store."""
    root = server.config.data_dir / "blobs" / "projects"
    return sorted(path for path in root.glob(f"*/jobs/{job_id}/**/*") if path.is_file())


def test_a_deleted_models_blobs_are_reaped_by_the_ctl_worker(reaping_api: ApiServer) -> None:
    key = reaping_api.new_key("reaper")
    doomed = publish_with_blobs(reaping_api, key, "ftjob-doomed0000000000000000")
    live = publish_with_blobs(reaping_api, key, "ftjob-live00000000000000000000")
    assert len(job_blobs(reaping_api, "ftjob-doomed0000000000000000")) == 3

    deleted = httpx.delete(
        f"{reaping_api.base_url}/models/{doomed}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert deleted.status_code == 200, deleted.text

    def stamps() -> dict[str, int | None]:
        with sqlite3.connect(reaping_api.config.data_dir / "ftapi.db") as db:
            return dict(db.execute("SELECT id, blobs_deleted_at FROM fine_tuned_models"))

    deadline = time.monotonic() + REAP_TIMEOUT_S
    # The reaper stamps the row just after the deletes, so wait for both.
    while job_blobs(reaping_api, "ftjob-doomed0000000000000000") or stamps()[doomed] is None:
        assert time.monotonic() < deadline, "the ctl worker did not reap the deleted model"
        time.sleep(0.2)
    stamps_now = stamps()
    assert stamps_now[doomed] is not None
    assert stamps_now[live] is None
    assert len(job_blobs(reaping_api, "ftjob-live00000000000000000000")) == 3
