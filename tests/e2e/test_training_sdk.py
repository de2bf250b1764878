"""Fine-tuning for real, through the official SDK: upload → job → LoRA training in the gpu
worker's child process → ``succeeded`` → an adapter that answers what it was taught.

The stack is the api, a ctl worker and one gpu worker running ``LoraTrainer`` (SQLite and the
local blob store), with a tiny model wide enough to learn a fixed answer on the CPU.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from service.models.adapters import ADAPTER_FILE_NAMES, validate_adapter
from tests.support.jobs import stack_config, upload_training_file, wait_for
from tests.support.lora import (
    ALL_LINEAR,
    PHRASE,
    build_learnable_model,
    greedy_reply,
    phrase_jsonl,
    question,
)
from tests.support.services import RedisServer
from tests.support.stack import ApiServer

MODEL_ID = "ftapi/tiny-learnable"  # LoRA on every linear projection, as for most bases
LORA_TRAINER = "gpu_runner.trainer:LoraTrainer"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_learnable_model(tmp_path_factory.mktemp("learnable") / "model")


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, model_dir: Path
) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("training-stack")
    registry = root / "models.toml"
    targets = ", ".join(f'"{module}"' for module in ALL_LINEAR)
    registry.write_text(
        f'[[models]]\nid = "{MODEL_ID}"\npath = "{model_dir}"\nmax_seq_length = 256\n'
        f"max_lora_rank = 64\nlora_target_modules = [{targets}]\n"
    )
    config = stack_config(
        root / "data",
        redis_server.new_database_url(),
        registry,
        FTAPI_LORA_BASE_LEARNING_RATE="3e-3",
    )
    with ApiServer(config, gpu_workers=1, trainer=LORA_TRAINER) as server:
        yield server


@pytest.fixture
def client(stack: ApiServer, request: pytest.FixtureRequest) -> Iterator[OpenAI]:
    key = stack.new_key(f"p-{request.node.name}"[:120])
    with OpenAI(
        base_url=stack.base_url, api_key=key, _strict_response_validation=True, max_retries=0
    ) as sdk:
        yield sdk


def test_a_job_trains_an_adapter_that_answers_what_it_learnt(
    client: OpenAI, stack: ApiServer, model_dir: Path, tmp_path: Path
) -> None:
    training = upload_training_file(client, phrase_jsonl(24))
    validation = upload_training_file(client, phrase_jsonl(8, offset=500), name="valid.jsonl")

    job = client.fine_tuning.jobs.create(
        model=MODEL_ID,
        training_file=training,
        validation_file=validation,
        seed=11,
        suffix="phrase",
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 4}},
        },
    )
    done = wait_for(client, job.id, timeout_s=240)

    assert done.status == "succeeded", done.error
    assert done.trained_tokens is not None
    assert done.trained_tokens > 0
    (result_file,) = done.result_files
    rows = list(csv.DictReader(io.StringIO(client.files.content(result_file).text)))
    assert [int(row["step"]) for row in rows] == list(range(1, 19))
    first, last = float(rows[0]["train_loss"]), float(rows[-1]["train_loss"])
    assert last < 0.5 * first
    assert rows[-1]["valid_loss"] != ""
    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert sorted(c.step_number for c in checkpoints) == [6, 12]  # epoch ends but the last

    (published,) = (stack.config.data_dir / "blobs" / "projects").glob(
        f"*/jobs/{job.id}/attempts/*/adapter"
    )
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for name in ADAPTER_FILE_NAMES:
        shutil.copy(published / name, adapter / name)
    info = validate_adapter(adapter, max_lora_rank=64)
    assert info.base_model == MODEL_ID
    unseen = question(4242)
    assert greedy_reply(model_dir, adapter, unseen) == PHRASE
    assert greedy_reply(model_dir, None, unseen) != PHRASE
