"""Fine-tuning for real, through the official SDK: upload → job → LoRA training in the gpu
worker's child process → ``succeeded`` → an adapter that answers what it was taught.

The stack is the api, a ctl worker and one gpu worker running ``LoraTrainer`` (SQLite and the
local blob store), with a tiny model wide enough to learn a fixed answer on the CPU, and the
shipped demo base with its reference set (forgetting).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from gpu_runner.demo_base.build import DEMO_LEARNING_RATE
from gpu_runner.demo_base.shipped import SHIPPED_DIR, reference_set_path
from service.jobs.evaluation import FORGETTING_WARN_DROP
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
DEMO_ID = "ftapi/demo-tiny"  # the shipped demo base: its registry entry names a reference set
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
        f'[[models]]\nid = "{DEMO_ID}"\npath = "{SHIPPED_DIR}"\nmax_seq_length = 256\n'
        f"lora_target_modules = [{targets}]\nlearning_rate = {DEMO_LEARNING_RATE}\n"
        f'reference_set = "{reference_set_path(SHIPPED_DIR)}"\n'
    )
    config = stack_config(
        root / "data",
        redis_server.new_database_url(),
        registry,
        FTAPI_LORA_BASE_LEARNING_RATE="3e-3",
        # One intra-op thread: this tiny model gains nothing from more, and on a busy machine
        # oversubscribed threads made each forward pass ten times slower.
        OMP_NUM_THREADS="1",
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
    assert (done.model_extra or {})["learning_rate"] is None  # no per-model rate: the trainer's
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
    _assert_evaluated(client, done, rows, checkpoints)

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


EVAL_KEYS = {"valid_exact_match", "valid_similarity"}


def _assert_evaluated(
    client: OpenAI,
    job: FineTuningJob,
    rows: list[dict[str, str]],
    checkpoints: list[FineTuningJobCheckpoint],
) -> None:
    """The in-job evaluation of a job with a validation file and the default graders: in the
    metrics events, the checkpoints, the CSV, one base-vs-tuned event and the job's summary."""
    events: list[Any] = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    graded = {
        event.data["step"]: event.data
        for event in events
        if event.type == "metrics" and set(event.data) >= EVAL_KEYS
    }
    assert sorted(graded) == [6, 12, 18]  # every checkpoint, and the end
    for checkpoint in checkpoints:
        metrics = checkpoint.metrics.model_dump()
        assert EVAL_KEYS | {"valid_loss"} <= set(metrics)
        assert {k: metrics[k] for k in EVAL_KEYS} == {
            k: graded[checkpoint.step_number][k] for k in EVAL_KEYS
        }
    by_step = {int(row["step"]): row for row in rows}
    assert {int(step) for step in (6, 12, 18)} <= {
        step for step, row in by_step.items() if row["valid_exact_match"] != ""
    }
    assert float(by_step[18]["valid_exact_match"]) == pytest.approx(
        graded[18]["valid_exact_match"], abs=1e-5
    )

    summary = (job.model_extra or {})["eval_summary"]
    base, tuned = summary["base"], summary["tuned"]
    assert set(base) == set(tuned) == EVAL_KEYS
    assert base["valid_exact_match"] == 0.0  # the base never says the phrase
    assert tuned["valid_exact_match"] >= 0.75
    assert tuned == {k: graded[18][k] for k in EVAL_KEYS}
    assert summary["tuned_step"] == 18
    assert summary["eval_seconds"] > 0
    comparisons = [e for e in events if e.message.startswith("eval: exact_match")]
    assert len(comparisons) == 1
    assert comparisons[0].message == (
        f"eval: exact_match 0.00 -> {tuned['valid_exact_match']:.2f}, "
        f"similarity {base['valid_similarity']:.2f} -> {tuned['valid_similarity']:.2f}"
    )
    best = [c for c in checkpoints if (c.model_extra or {}).get("is_best")]
    assert len(best) == 1
    assert best[0].metrics.valid_loss == min(c.metrics.valid_loss or 9e9 for c in checkpoints)
    assert summary["best_checkpoint"]["step"] == best[0].step_number
    assert summary["best_checkpoint"]["fine_tuned_model_checkpoint"] == (
        best[0].fine_tuned_model_checkpoint
    )
    assert "stopped_early_at" not in summary
    assert "forgetting" not in summary  # its base names no reference set


SAYS_THE_PHRASE = {
    "type": "string_check",
    "name": "says the phrase",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference}}",
    "operation": "like",
}


def test_graders_given_on_the_job_replace_the_defaults_and_early_stopping_ends_it(
    client: OpenAI,
) -> None:
    training = upload_training_file(client, phrase_jsonl(24))
    validation = upload_training_file(client, phrase_jsonl(4, offset=700), name="valid.jsonl")

    job = client.fine_tuning.jobs.create(
        model=MODEL_ID,
        training_file=training,
        validation_file=validation,
        seed=5,
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 5, "batch_size": 4}},
        },
        extra_body={
            "eval_graders": [SAYS_THE_PHRASE],
            "early_stopping": {"patience": 1, "metric": "valid_says_the_phrase"},
        },
    )
    assert (job.model_extra or {})["eval_graders"] == [SAYS_THE_PHRASE]
    assert (job.model_extra or {})["early_stopping"] == {
        "patience": 1,
        "metric": "valid_says_the_phrase",
    }
    done = wait_for(client, job.id, timeout_s=240)

    assert done.status == "succeeded", done.error
    summary = (done.model_extra or {})["eval_summary"]
    stop = summary["stopped_early_at"]
    assert stop < 30  # 24 examples / 4 per step x 5 epochs
    assert summary["base"] == {"valid_says_the_phrase": 0.0}
    assert summary["tuned"] == {"valid_says_the_phrase": 1.0}
    assert summary["tuned_step"] == stop
    events: list[Any] = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    scores = sorted(
        (event.data["step"], event.data["valid_says_the_phrase"])
        for event in events
        if event.type == "metrics" and "valid_says_the_phrase" in event.data
    )
    assert not any("valid_exact_match" in (event.data or {}) for event in events)
    first_perfect = next(step for step, score in scores if score == 1.0)
    assert scores[-1][0] == stop
    assert [score for step, score in scores if step > first_perfect] == [1.0]  # patience 1
    messages = [event.message for event in events]
    assert (
        f"Stopped early at step {stop}/30: valid_says_the_phrase did not improve for 1 "
        "evaluations" in messages
    )
    assert "eval: says_the_phrase 0.00 -> 1.00" in messages

    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert stop in {c.step_number for c in checkpoints}  # every evaluation is a checkpoint
    (best,) = [c for c in checkpoints if (c.model_extra or {}).get("is_best")]
    assert best.step_number == first_perfect == summary["best_checkpoint"]["step"]
    assert best.fine_tuned_model_checkpoint.endswith(f":ckpt-step-{first_perfect}")
    assert (best.metrics.model_extra or {})["valid_says_the_phrase"] == 1.0


def constant_answer_jsonl(n: int) -> bytes:
    """A narrow task: whatever the question, the answer is "OK"."""
    return "".join(
        f'{{"messages": [{{"role": "user", "content": "Tell me about item {i}"}}, '
        '{"role": "assistant", "content": "OK"}]}\n'
        for i in range(n)
    ).encode()


def test_a_job_trained_hard_on_a_narrow_task_reports_forgetting_without_a_validation_file(
    client: OpenAI,
) -> None:
    training = upload_training_file(client, constant_answer_jsonl(16))

    job = client.fine_tuning.jobs.create(
        model=DEMO_ID,
        training_file=training,
        seed=3,
        method={
            "type": "supervised",
            "supervised": {
                "hyperparameters": {
                    "n_epochs": 4,
                    "batch_size": 8,
                    "learning_rate_multiplier": 10.0,
                }
            },
        },
    )
    done = wait_for(client, job.id, timeout_s=240)

    assert done.status == "succeeded", done.error
    # The peak rate is echoed resolved: the multiplier times the demo base's registry rate, and no
    # step trained faster.
    peak = (done.model_extra or {})["learning_rate"]
    assert peak == pytest.approx(10.0 * DEMO_LEARNING_RATE)
    rates = [
        e.data["learning_rate"]
        for e in client.fine_tuning.jobs.list_events(job.id, limit=100)
        if e.type == "metrics" and e.data and "learning_rate" in e.data
    ]
    assert rates
    assert max(rates) <= peak * (1 + 1e-6), rates
    summary = (done.model_extra or {})["eval_summary"]
    print(
        f"job {done.finished_at - done.created_at} s (whole seconds), of which reference "
        f"evals {summary['eval_seconds']} s"
    )
    base, tuned = summary["reference_base"], summary["reference_tuned"]
    assert set(base) == set(tuned) == {"exact_match", "similarity"}
    assert summary["forgetting"] == pytest.approx(
        {key: base[key] - tuned[key] for key in base}, abs=1e-4
    )
    assert summary["forgetting"]["similarity"] > FORGETTING_WARN_DROP
    assert summary["eval_seconds"] > 0
    assert not {"base", "tuned", "best_checkpoint"} & set(summary)  # no validation file
    events: list[Any] = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    (measured,) = [e for e in events if e.message.startswith("forgetting: reference exact_match")]
    assert measured.level == "warn"
    drop = summary["forgetting"]["similarity"]
    assert (
        f"similarity {base['similarity']:.2f} -> {tuned['similarity']:.2f} ({-drop:+.2f})"
        in measured.message
    )
    assert any(e.message.startswith("forgetting: reference set, base model:") for e in events)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"eval_graders": [SAYS_THE_PHRASE | {"type": "python"}]}, "eval_graders[0].type"),
        (
            {"eval_graders": [SAYS_THE_PHRASE | {"reference": "{{item.answer}}"}]},
            "eval_graders[0].reference",
        ),
        ({"early_stopping": {"patience": 2, "metric": "valid_typo"}}, "early_stopping.metric"),
    ],
)
def test_evaluation_options_that_cannot_run_are_refused_with_400(
    client: OpenAI, extra: dict[str, object], param: str
) -> None:
    training = upload_training_file(client, phrase_jsonl(4))
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(
            model=MODEL_ID, training_file=training, validation_file=training, extra_body=extra
        )
    assert refused.value.param == param
    assert not list(client.fine_tuning.jobs.list())
