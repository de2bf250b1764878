"""Fine-tuning a fine-tuned model or a checkpoint, own, shared or imported, end to end: the
official SDK in strict mode, real workers and the deterministic trainer, which records the
adapter it was handed to continue from (``initial=`` in its log)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai import OpenAI
from openai.types import Model
from openai.types.fine_tuning import FineTuningJob

from tests.e2e.serving.test_import import adapter_tar, lora_dir
from tests.integration.models.conftest import caller_of
from tests.support.http_checks import raw_client
from tests.support.jobs import (
    TINY_MODEL_ID,
    chat_jsonl,
    stack_config,
    trainer_log,
    upload_training_file,
    wait_for,
)
from tests.support.services import RedisServer
from tests.support.stack import ApiServer

N_EXAMPLES = 10
SEED = 7


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, job_registry: Path
) -> Iterator[ApiServer]:
    """Api, ctl worker and one gpu worker running the deterministic trainer."""
    config = stack_config(
        tmp_path_factory.mktemp("from-ft"), redis_server.new_database_url(), job_registry
    )
    with ApiServer(config, gpu_workers=1) as server:
        yield server


def sdk(stack: ApiServer, key: str) -> OpenAI:
    return OpenAI(
        base_url=stack.base_url, api_key=key, _strict_response_validation=True, max_retries=0
    )


def train(client: OpenAI, model: str, *, n_epochs: int = 1) -> FineTuningJob:
    """Create a job on ``model`` and wait for it to succeed."""
    training = upload_training_file(client, chat_jsonl(N_EXAMPLES))
    created = client.fine_tuning.jobs.create(
        model=model,
        training_file=training,
        seed=SEED,
        suffix="again",
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": n_epochs}}},
    )
    assert created.model == model  # echoed as given, as OpenAI does
    done = wait_for(client, created.id)
    assert done.status == "succeeded", done.error
    assert done.model == model
    return done


def started_from(stack: ApiServer, job_id: str) -> str:
    """The ``initial=`` of the job's first training attempt."""
    (start, *_) = [line for line in trainer_log(stack) if line.startswith(f"start {job_id} ")]
    return start.rsplit("initial=", 1)[1]


def test_own_and_shared_fine_tuned_models_can_be_fine_tuned_again(
    stack: ApiServer, request: pytest.FixtureRequest
) -> None:
    owner_key = stack.new_key(f"owner-{request.node.name}"[:120])
    grantee_key = stack.new_key(f"grantee-{request.node.name}"[:120])
    with sdk(stack, owner_key) as owner, sdk(stack, grantee_key) as grantee:
        first = train(owner, TINY_MODEL_ID, n_epochs=2)
        assert started_from(stack, first.id) == "-"
        assert first.fine_tuned_model is not None
        (checkpoint,) = owner.fine_tuning.jobs.checkpoints.list(first.id).data
        step = checkpoint.step_number

        again = train(owner, first.fine_tuned_model)

        # Trained from the first job's published adapter, named after the root base model.
        assert started_from(stack, again.id) == f"weights-{SEED}"
        assert again.fine_tuned_model is not None
        assert again.fine_tuned_model.startswith(f"ft:{TINY_MODEL_ID}:ftapi:again:")
        assert again.fine_tuned_model in [model.id for model in owner.models.list()]

        owner.fine_tuning.checkpoints.permissions.create(
            checkpoint.fine_tuned_model_checkpoint,
            project_ids=[caller_of(stack, grantee_key).project_id],
        )
        shared = train(grantee, checkpoint.fine_tuned_model_checkpoint)

        assert started_from(stack, shared.id) == f"weights-{SEED}-step-{step}"
        assert shared.fine_tuned_model is not None
        assert shared.fine_tuned_model.startswith(f"ft:{TINY_MODEL_ID}:ftapi:again:")
        # The grantee's new model is its own; the shared checkpoint stays the owner's.
        assert shared.fine_tuned_model not in [model.id for model in owner.models.list()]


def test_unknown_deleted_and_unshared_models_are_not_found(
    stack: ApiServer, request: pytest.FixtureRequest
) -> None:
    owner_key = stack.new_key(f"owner-{request.node.name}"[:120])
    stranger_key = stack.new_key(f"stranger-{request.node.name}"[:120])
    with sdk(stack, owner_key) as owner, sdk(stack, stranger_key) as stranger:
        trained = train(owner, TINY_MODEL_ID)
        assert trained.fine_tuned_model is not None
        training = upload_training_file(stranger, chat_jsonl(N_EXAMPLES))
        owner_training = upload_training_file(owner, chat_jsonl(N_EXAMPLES))

        unknown = f"ft:{TINY_MODEL_ID}:ftapi::nosuchid"
        for client, file_id, model in (
            (stranger, training, trained.fine_tuned_model),  # another project's, not shared
            (owner, owner_training, unknown),
        ):
            with pytest.raises(openai.NotFoundError) as missing:
                client.fine_tuning.jobs.create(model=model, training_file=file_id)
            assert (missing.value.code, missing.value.param) == ("model_not_found", "model")

        with raw_client(stack, owner_key) as http:
            estimate = http.post(
                "/v1/fine_tuning/estimate",
                json={"model": trained.fine_tuned_model, "training_file": owner_training},
            )
        assert estimate.status_code == 200, estimate.text
        assert estimate.json()["ok"] is True
        assert estimate.json()["training_report"]["model"] == TINY_MODEL_ID  # root tokenizer

        owner.models.delete(trained.fine_tuned_model)
        with pytest.raises(openai.NotFoundError):
            owner.fine_tuning.jobs.create(
                model=trained.fine_tuned_model, training_file=owner_training
            )


def test_an_imported_adapter_can_be_fine_tuned_again(
    stack: ApiServer, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    key = stack.new_key(f"importer-{request.node.name}"[:120])
    # The tiny model's attention is 64 wide; the trainer logs the adapter it starts from.
    adapter = lora_dir(tmp_path / "lora", {"model.layers.0.self_attn.q_proj": (64, 64)})
    with sdk(stack, key) as client:
        archive = client.files.create(
            file=("lora.tar.gz", adapter_tar(adapter)), purpose="user_data"
        )
        imported = client.post(
            "/models/import",
            body={"file": archive.id, "base_model": TINY_MODEL_ID, "suffix": "imported"},
            cast_to=Model,
        )
        again = train(client, imported.id)
        assert again.fine_tuned_model is not None
        assert again.fine_tuned_model.startswith(f"ft:{TINY_MODEL_ID}:ftapi:again:")
    # Trained from the imported adapter's own weights file.
    started = started_from(stack, again.id)
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in started
