"""Merged export (``GET /v1/models/{model}/content?format=merged``) on the serving stack plus a
real gpu worker: 202 while it builds, then the archive of a directory transformers alone loads
and that answers as ftapi serves the model; built once and served from the cache; owner only;
a build failing its logits check ends in a clear, retryable error; a lost build is re-queued."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from service.blobstore.keys import imported_model_root
from service.db.engine import create_engine, create_session_factory
from service.models.access import AdapterModel, ModelAccess
from service.models.merged_exports import (
    ExportRecord,
    ExportStatus,
    export_prefix,
    read_record,
    write_record,
)
from service.models.registry import ModelRegistry
from service.wiring.resources import blob_store_from_settings
from tests.e2e.serving.conftest import BASE_MODEL_ID, ServingStack
from tests.e2e.serving.test_download import PICKLE_SUFFIXES, download, error_of, tokenizer_files
from tests.e2e.serving.test_import import adapter_tar, post_import, upload
from tests.e2e.serving.test_serving import MAX_TOKENS, MESSAGES, chat
from tests.support.lora import greedy_reply
from tests.support.serving import caller_of_key
from tests.support.stack import DETERMINISTIC_TRAINER, REPO_ROOT, WorkerProcess

MERGE_FAULTS = REPO_ROOT / "tests" / "support" / "merge_faults"
DRIFTING_SUFFIX = "driftmerge"  # tests/support/merge_faults: the merge's saved weights drift
BUILD_TIMEOUT_S = 180
MERGED = {"format": "merged"}


@pytest.fixture(scope="module")
def gpu_worker(serving_stack: ServingStack) -> Iterator[WorkerProcess]:
    """One gpu worker beside the stack (it builds merged exports), with the drifting-merge fault
    armed for models whose id holds ``DRIFTING_SUFFIX``."""
    api = serving_stack.api
    worker = WorkerProcess(
        api.config,
        "gpu",
        {"FTAPI_TRAINER__IMPORT_PATH": DETERMINISTIC_TRAINER},
        preload_dir=MERGE_FAULTS,
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout_s=15)


def wait_for_export(
    stack: ServingStack, key: str, model: str, params: dict[str, str] = MERGED
) -> httpx.Response:
    """Poll as a client would, honouring ``Retry-After``, until the answer is not a 202."""
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    while time.monotonic() < deadline:
        response = download(stack, key, model, params)
        if response.status_code != 202:
            return response
        time.sleep(min(float(response.headers["retry-after"]), 1.0))
    raise AssertionError(f"the merged export of {model} was not built in {BUILD_TIMEOUT_S}s")


def owned_adapter(stack: ServingStack, key: str, model: str) -> AdapterModel:
    async def run() -> AdapterModel:
        settings = stack.settings
        caller = await caller_of_key(settings, key)
        engine = create_engine(settings.database_url)
        try:
            registry = ModelRegistry.from_file(settings.models.registry_path)
            access = ModelAccess(registry, create_session_factory(engine))
            adapter = await access.owned(caller.project_id, model)
        finally:
            await engine.dispose()
        assert adapter is not None
        return adapter

    return asyncio.run(run())


def export_record(stack: ServingStack, adapter: AdapterModel) -> ExportRecord | None:
    async def run() -> ExportRecord | None:
        blobs = blob_store_from_settings(stack.settings)
        try:
            return await read_record(blobs, export_prefix(adapter))
        finally:
            await blobs.close()

    return asyncio.run(run())


def greedy_with_transformers(model_dir: Path) -> str:
    """The greedy chat answer of the extracted merged model, with transformers only."""
    return greedy_reply(model_dir, None, MESSAGES[0]["content"], MAX_TOKENS)


def extract_all(response: httpx.Response, target: Path) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        members = tar.getmembers()
        assert all(member.isreg() and "/" not in member.name for member in members)
        tar.extractall(target, filter="data")
    return sorted(member.name for member in members)


def test_the_merged_model_is_built_once_and_loads_with_transformers_alone(
    serving_stack: ServingStack,
    gpu_worker: WorkerProcess,
    project_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    model = serving_stack.publish(project_key, seed=41)
    adapter = owned_adapter(serving_stack, project_key, model)

    first = download(serving_stack, project_key, model, MERGED)
    assert first.status_code == 202, first.text
    assert int(first.headers["retry-after"]) >= 1
    body = first.json()
    assert body["object"] == "model.export"
    assert body["model"] == model
    assert body["status"] == "in_progress"
    assert body["attempt"] == 1

    foreign_key = serving_stack.api.new_key(f"other-{request.node.name}"[:120])
    foreign = download(serving_stack, foreign_key, model, MERGED)
    assert foreign.status_code == 404
    assert error_of(foreign)["code"] == "model_not_found"

    response = wait_for_export(serving_stack, project_key, model)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-tar"
    assert int(response.headers["content-length"]) == len(response.content)
    names = extract_all(response, tmp_path)
    shards = [name for name in names if name.endswith(".safetensors")]
    assert shards
    assert not [name for name in names if name.endswith(PICKLE_SUFFIXES)]
    assert not [name for name in names if name.startswith("adapter_")]
    assert {"config.json", "README.md", "checksums"} <= set(names)
    assert tokenizer_files(serving_stack.model_dir) <= set(names)
    checked = subprocess.run(
        ["sha256sum", "-c", "checksums"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    card = (tmp_path / "README.md").read_text()
    assert "merged into its base model" in card
    assert "differ from base + adapter's (float32) by at most" in card

    record = export_record(serving_stack, adapter)
    assert record is not None
    assert record.status is ExportStatus.SUCCEEDED
    assert record.report is not None
    assert record.report["max_abs_diff"] <= record.report["tolerance"]

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with serving_stack.sdk(project_key) as sdk:
        served = chat(sdk, model)
        assert served != chat(sdk, BASE_MODEL_ID)  # the adapter matters, so the check is sharp
    assert greedy_with_transformers(tmp_path).strip() == served.strip()

    # The second download streams the cached export: no new attempt, nothing rebuilt.
    again = download(serving_stack, project_key, model, MERGED)
    assert again.status_code == 200
    assert again.content == response.content
    assert export_record(serving_stack, adapter) == record


def test_a_merge_failing_its_logits_check_ends_in_a_clear_error_and_can_be_retried(
    serving_stack: ServingStack, gpu_worker: WorkerProcess, project_key: str
) -> None:
    model = serving_stack.publish(project_key, seed=42, suffix=DRIFTING_SUFFIX)
    failed = wait_for_export(serving_stack, project_key, model)
    assert failed.status_code == 500, failed.text
    error = error_of(failed)
    assert error["code"] == "merged_logits_mismatch"
    assert "differ from base + adapter's by" in error["message"]
    assert "retry=true" in error["message"]
    assert failed.headers["x-should-retry"] == "false"

    # It stays failed (no silent rebuild) until asked to retry, which starts attempt 2.
    assert download(serving_stack, project_key, model, MERGED).status_code == 500
    retried = download(serving_stack, project_key, model, {"format": "merged", "retry": "true"})
    assert retried.status_code == 202, retried.text
    assert retried.json()["attempt"] == 2
    assert error_of(wait_for_export(serving_stack, project_key, model))["code"] == (
        "merged_logits_mismatch"
    )
    record = export_record(serving_stack, owned_adapter(serving_stack, project_key, model))
    assert record is not None
    assert record.attempt == 2
    assert record.status is ExportStatus.FAILED


def test_a_build_lost_with_its_worker_is_queued_again(
    serving_stack: ServingStack, gpu_worker: WorkerProcess, project_key: str
) -> None:
    """A record left ``in_progress`` with no task behind it (its worker and its queue entry are
    gone) is taken up again by the next request, as attempt 2."""
    model = serving_stack.publish(project_key, seed=43)
    adapter = owned_adapter(serving_stack, project_key, model)
    now = int(time.time())
    orphan = ExportRecord(
        model=model,
        status=ExportStatus.IN_PROGRESS,
        attempt=1,
        created_at=now - 7200,
        queued_at=now - 7200,
        started_at=now - 7200,
    )

    async def plant() -> None:
        blobs = blob_store_from_settings(serving_stack.settings)
        try:
            await write_record(blobs, export_prefix(adapter), orphan)
        finally:
            await blobs.close()

    asyncio.run(plant())
    resumed = download(serving_stack, project_key, model, MERGED)
    assert resumed.status_code == 202
    assert resumed.json()["attempt"] == 2
    assert wait_for_export(serving_stack, project_key, model).status_code == 200
    record = export_record(serving_stack, adapter)
    assert record is not None
    assert (record.attempt, record.status, record.created_at) == (
        2,
        ExportStatus.SUCCEEDED,
        orphan.created_at,
    )


def test_the_cli_waits_for_the_merged_export_and_extracts_it(
    serving_stack: ServingStack, gpu_worker: WorkerProcess, project_key: str, tmp_path: Path
) -> None:
    model = serving_stack.publish(project_key, seed=44)
    target = tmp_path / "merged"
    env = os.environ | {
        "FTAPI_BASE_URL": serving_stack.api.base_url,
        "FTAPI_API_KEY": project_key,
        "PYTHONPATH": str(REPO_ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "cli", "models", "download", model, "--merged", "-o", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(target)
    assert f"building the merged model of {model}" in done.stderr
    assert "100%" in done.stderr
    files = {path.name for path in target.iterdir()}
    assert {"config.json", "README.md", "checksums"} <= files
    assert any(name.endswith(".safetensors") for name in files)
    assert not [name for name in files if name.startswith((".download-", "adapter_"))]


def test_a_checkpoint_exports_its_own_merged_model(
    serving_stack: ServingStack, gpu_worker: WorkerProcess, project_key: str, tmp_path: Path
) -> None:
    """A checkpoint keeps its adapter in ``adapter/`` beside optimizer state: its merged export
    folds that adapter in, and its card names the step."""
    checkpoint = serving_stack.publish_checkpoint(project_key, seed=45, step=2)
    response = wait_for_export(serving_stack, project_key, quote(checkpoint, safe=""))
    assert response.status_code == 200, response.text
    names = extract_all(response, tmp_path)
    assert not [name for name in names if "optimizer" in name or name.startswith("adapter_")]
    assert "Checkpoint step: 2" in (tmp_path / "README.md").read_text()
    with serving_stack.sdk(project_key) as sdk:
        served = chat(sdk, checkpoint)
    assert greedy_with_transformers(tmp_path).strip() == served.strip()


def test_an_imported_model_exports_merged_beside_its_adapter(
    serving_stack: ServingStack, gpu_worker: WorkerProcess, project_key: str, tmp_path: Path
) -> None:
    """A job-less model (imported) keeps its export under the import's own prefix, which the
    reaper deletes whole; the merged model answers as the served one."""
    file_id = upload(serving_stack, project_key, adapter_tar(serving_stack.adapter(61)))
    imported = post_import(serving_stack, project_key, file=file_id, suffix="merged-import")
    assert imported.status_code == 200, imported.text
    model = imported.json()["id"]
    adapter = owned_adapter(serving_stack, project_key, model)
    assert adapter.job_id is None
    assert export_prefix(adapter).startswith(imported_model_root(adapter.blob_prefix))

    response = wait_for_export(serving_stack, project_key, model)
    assert response.status_code == 200, response.text
    extract_all(response, tmp_path)
    assert "imported into ftapi" in (tmp_path / "README.md").read_text()
    with serving_stack.sdk(project_key) as sdk:
        served = chat(sdk, model)
    assert greedy_with_transformers(tmp_path).strip() == served.strip()
