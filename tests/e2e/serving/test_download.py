"""Downloading fine-tuned models and checkpoints (``GET /v1/models/{model}/content``) from the
serving stack's api: the archive's files, its checksums, the adapter loaded with peft answering
as ftapi serves the model, who may download, bad formats, and ``ftapi models download``."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select, update

from service.db.engine import create_engine, create_session_factory
from service.db.tables import CheckpointRow, JobRow
from tests.e2e.serving.conftest import BASE_MODEL_ID, ServingStack
from tests.e2e.serving.test_serving import MAX_TOKENS, MESSAGES, chat
from tests.integration.models.conftest import caller_of
from tests.support.lora import greedy_reply
from tests.support.stack import REPO_ROOT

ADAPTER_FILES = {"adapter_config.json", "adapter_model.safetensors"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt", ".pickle")


def download(
    stack: ServingStack, key: str, model: str, params: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.get(
        f"{stack.api.base_url}/models/{model}/content",
        params=params,
        headers={"authorization": f"Bearer {key}"},
        timeout=60,
    )


def extract(response: httpx.Response, target: Path) -> list[str]:
    """The archive's member names, each checked to be a plain regular file, extracted."""
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        members = tar.getmembers()
        assert all(member.isreg() for member in members)
        assert all("/" not in member.name and member.name != ".." for member in members)
        tar.extractall(target, filter="data")
    return sorted(member.name for member in members)


def tokenizer_files(model_dir: Path) -> set[str]:
    return {
        path.name
        for path in model_dir.iterdir()
        if path.name.startswith(("tokenizer", "chat_template", "special_tokens_map"))
    }


def greedy_with_peft(model_dir: Path, adapter_dir: Path) -> str:
    """The greedy chat answer of the base with the downloaded adapter, in transformers + peft,
    formatted with the downloaded tokenizer and chat template."""
    return greedy_reply(
        model_dir, adapter_dir, MESSAGES[0]["content"], MAX_TOKENS, tokenizer_dir=adapter_dir
    )


def test_the_downloaded_adapter_loads_offline_and_answers_as_the_served_model(
    serving_stack: ServingStack,
    project_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = serving_stack.publish(project_key, seed=31)
    response = download(serving_stack, project_key, model)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-tar"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="ft-ftapi-tiny-chatml-')
    assert disposition.endswith('.tar"')
    assert int(response.headers["content-length"]) == len(response.content)

    names = extract(response, tmp_path)
    expected = ADAPTER_FILES | tokenizer_files(serving_stack.model_dir) | {"README.md", "checksums"}
    assert set(names) == expected
    assert not [name for name in names if name.endswith(PICKLE_SUFFIXES)]
    checked = subprocess.run(
        ["sha256sum", "-c", "checksums"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == len(names) - 1

    stored = serving_stack.adapter(31) / "adapter_model.safetensors"
    assert (tmp_path / "adapter_model.safetensors").read_bytes() == stored.read_bytes()
    card = (tmp_path / "README.md").read_text()
    assert model in card
    assert BASE_MODEL_ID in card
    # Without network (HF_HUB_OFFLINE): everything comes from the two directories.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with serving_stack.sdk(project_key) as sdk:
        served = chat(sdk, model)
        assert served != chat(sdk, BASE_MODEL_ID)  # the adapter matters, so the check is sharp
    assert greedy_with_peft(serving_stack.model_dir, tmp_path).strip() == served.strip()


def record_job_facts(stack: ServingStack, checkpoint: str, **values: str) -> None:
    """Set columns of the job that made ``checkpoint``, as a validated, evaluated job has them."""

    async def run() -> None:
        engine = create_engine(stack.settings.database_url)
        try:
            async with create_session_factory(engine).begin() as session:
                job_id = await session.scalar(
                    select(CheckpointRow.job_id).where(
                        CheckpointRow.fine_tuned_model_checkpoint == checkpoint
                    )
                )
                await session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_a_checkpoint_downloads_its_own_adapter_and_its_jobs_card(
    serving_stack: ServingStack, project_key: str, tmp_path: Path
) -> None:
    checkpoint = serving_stack.publish_checkpoint(project_key, seed=32, step=3)
    training = b'{"messages": [{"role": "user", "content": "hi"}]}\n'
    with serving_stack.sdk(project_key) as sdk:
        file = sdk.files.create(file=("train.jsonl", training), purpose="fine-tune")
    method = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}
    record_job_facts(
        serving_stack,
        checkpoint,
        training_file=file.id,
        method_json=json.dumps(method),
        eval_summary_json=json.dumps({"valid_loss": 1.25}),
    )
    # `/` sent as `%2F`, as newer SDKs do.
    response = download(serving_stack, project_key, quote(checkpoint, safe=""))
    assert response.status_code == 200, response.text
    names = extract(response, tmp_path)
    assert set(names) >= ADAPTER_FILES
    assert not [name for name in names if "optimizer" in name or "trainer_state" in name]
    stored = serving_stack.adapter(32) / "adapter_model.safetensors"
    digest = hashlib.sha256(stored.read_bytes()).hexdigest()
    assert f"{digest}  adapter_model.safetensors" in (tmp_path / "checksums").read_text()
    assert (tmp_path / "adapter_model.safetensors").read_bytes() == stored.read_bytes()
    card = (tmp_path / "README.md").read_text()
    assert checkpoint in card
    assert "Checkpoint step: 3" in card
    assert f"`{file.id}` (train.jsonl, sha256 `{hashlib.sha256(training).hexdigest()}`)" in card
    assert '"n_epochs": 3' in card
    assert '"valid_loss": 1.25' in card


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def test_only_the_owner_downloads_and_bad_formats_are_refused(
    serving_stack: ServingStack, project_key: str, request: pytest.FixtureRequest
) -> None:
    api = serving_stack.api
    model = serving_stack.publish(project_key, seed=33)
    other_key = api.new_key(f"other-{request.node.name}"[:120])
    grantee_key = api.new_key(f"grantee-{request.node.name}"[:120])

    foreign = download(serving_stack, other_key, model)
    assert foreign.status_code == 404
    assert error_of(foreign)["code"] == "model_not_found"

    # Shared models can be called by the grantee, not downloaded (owner only, for now).
    with serving_stack.sdk(project_key) as owner:
        owner.fine_tuning.checkpoints.permissions.create(
            model, project_ids=[caller_of(api, grantee_key).project_id]
        )
    with serving_stack.sdk(grantee_key) as grantee:
        assert grantee.models.retrieve(model).id == model
    shared = download(serving_stack, grantee_key, model)
    assert shared.status_code == 404
    assert error_of(shared)["code"] == "model_not_found"

    # format=merged: the same access rule (test_merged_export.py has the rest).
    assert download(serving_stack, grantee_key, model, {"format": "merged"}).status_code == 404
    unknown = download(serving_stack, project_key, model, {"format": "gguf"})
    assert unknown.status_code == 400
    assert error_of(unknown)["type"] == "invalid_request_error"
    assert error_of(unknown)["param"] == "format"

    base = download(serving_stack, project_key, BASE_MODEL_ID)
    assert base.status_code == 400
    assert error_of(base)["code"] == "model_not_downloadable"

    # Retrieving keeps working for ids with `/`, raw or encoded.
    with serving_stack.sdk(project_key) as sdk:
        assert sdk.models.retrieve(model).id == model
        assert sdk.models.retrieve(BASE_MODEL_ID).id == BASE_MODEL_ID
    raw = httpx.get(
        f"{api.base_url}/models/{model}",
        headers={"authorization": f"Bearer {project_key}"},
        timeout=30,
    )
    assert raw.json()["id"] == model


def test_the_cli_downloads_extracts_and_verifies(
    serving_stack: ServingStack, project_key: str, tmp_path: Path
) -> None:
    model = serving_stack.publish(project_key, seed=34)
    target = tmp_path / "weights"
    command = [sys.executable, "-m", "cli", "models", "download", model, "-o", str(target)]
    env = os.environ | {
        "FTAPI_BASE_URL": serving_stack.api.base_url,
        "FTAPI_API_KEY": project_key,
        "PYTHONPATH": str(REPO_ROOT),
    }
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(target)
    assert "100%" in done.stderr  # the progress lines (stderr is not a terminal here)
    files = {path.name for path in target.iterdir()}
    assert ADAPTER_FILES | {"README.md", "checksums"} <= files
    assert not [name for name in files if name.startswith(".download-")]
    stored = serving_stack.adapter(34) / "adapter_model.safetensors"
    assert (target / "adapter_model.safetensors").read_bytes() == stored.read_bytes()

    missing = subprocess.run(
        [*command[:5], model + "x", "-o", str(tmp_path / "none")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error: ")
    assert missing.stderr.strip().endswith("(model_not_found)")
