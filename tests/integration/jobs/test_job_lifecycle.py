"""Jobs end to end with real workers: the official SDK in strict mode, real Redis and arq."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.jobs import (
    TINY_MODEL_ID,
    chat_jsonl,
    event_messages,
    trainer_log,
    upload_training_file,
    wait_for,
)
from tests.support.stack import ApiServer


def test_a_job_runs_from_creation_to_success(client: OpenAI) -> None:
    training = upload_training_file(client, chat_jsonl(12))
    validation = upload_training_file(client, chat_jsonl(4), name="valid.jsonl")

    created = client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID,
        training_file=training,
        validation_file=validation,
        suffix="my-model",
        seed=7,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        metadata={"team": "search"},
    )
    assert created.status == "validating_files"
    assert created.hyperparameters.n_epochs == 2
    assert created.hyperparameters.batch_size == "auto"
    assert created.error is None

    done = wait_for(client, created.id)

    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model is not None
    assert done.fine_tuned_model.startswith(f"ft:{TINY_MODEL_ID}:ftapi:my-model:")
    assert done.hyperparameters.batch_size == 1  # auto, resolved from 12 examples
    assert done.trained_tokens is not None
    assert done.trained_tokens > 0
    assert done.finished_at is not None
    assert done.metadata == {"team": "search"}
    (result_file,) = done.result_files
    metrics = client.files.retrieve(result_file)
    assert metrics.purpose == "fine-tune-results"
    assert metrics.filename == "step_metrics.csv"
    csv_lines = client.files.content(result_file).text.splitlines()
    assert csv_lines[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert len(csv_lines) == 1 + 24  # one row per step: 12 examples x 2 epochs
    messages = event_messages(client, created.id)
    assert messages[0] == f"Created fine-tuning job: {created.id}"
    assert messages[1] == f"Validating training file: {training} and validation file: {validation}"
    assert messages[2] == "Files validated, moving job to queued state"
    assert messages[3] == "Fine-tuning job started"
    assert messages[4].startswith("Step 1/24: training loss=")
    assert messages[-2] == f"New fine-tuned model created: {done.fine_tuned_model}"
    assert messages[-1] == "The job has successfully completed"
    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(created.id))
    assert [c.step_number for c in checkpoints] == [12]
    assert checkpoints[0].fine_tuned_model_checkpoint == f"{done.fine_tuned_model}:ckpt-step-12"


def test_events_page_newest_first(client: OpenAI) -> None:
    training = upload_training_file(client, chat_jsonl(10))
    job = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training)
    wait_for(client, job.id)

    first = client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert len(first.data) == 3
    assert first.has_more is True
    everything = list(client.fine_tuning.jobs.list_events(job.id, limit=3))
    assert everything[0].message == "The job has successfully completed"
    created_at = [event.created_at for event in everything]
    assert created_at == sorted(created_at, reverse=True)
    assert len({event.id for event in everything}) == len(everything)


def test_list_pages_and_filters_by_metadata(client: OpenAI) -> None:
    training = upload_training_file(client, chat_jsonl(10))
    ids = [
        client.fine_tuning.jobs.create(
            model=TINY_MODEL_ID, training_file=training, metadata={"batch": str(i % 2)}
        ).id
        for i in range(5)
    ]

    listed = [job.id for job in client.fine_tuning.jobs.list(limit=2)]
    evens = [job.id for job in client.fine_tuning.jobs.list(metadata={"batch": "0"})]

    assert listed == list(reversed(ids))
    assert evens == [ids[4], ids[2], ids[0]]
    for job_id in ids:
        wait_for(client, job_id)


def test_cancel_while_validating_and_while_running(client: OpenAI, stack: ApiServer) -> None:
    training = upload_training_file(client, chat_jsonl(12))
    early = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training)
    early_cancelled = client.fine_tuning.jobs.cancel(early.id)
    assert early_cancelled.status == "cancelled"

    long_job = client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID,
        training_file=training,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 50}}},
    )
    wait_for(client, long_job.id, lambda job: job.status == "running", timeout_s=30)
    cancelled = client.fine_tuning.jobs.cancel(long_job.id)

    assert cancelled.status == "cancelled"
    assert cancelled.finished_at is not None
    wait_for(client, long_job.id)  # stays cancelled
    _wait_for_log(stack, f"stop {long_job.id} ", "reason=cancelled")
    assert wait_for(client, early.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.fine_tuning.jobs.cancel(long_job.id)
    assert excinfo.value.code == "job_not_cancellable"


def test_pause_then_resume_continues_from_the_checkpoint(client: OpenAI, stack: ApiServer) -> None:
    training = upload_training_file(client, chat_jsonl(10))
    job = client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID,
        training_file=training,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 30}}},
    )
    wait_for(client, job.id, lambda j: j.status == "running", timeout_s=30)
    _wait_for_checkpoint(client, job.id)

    paused = client.fine_tuning.jobs.pause(job.id)

    assert paused.status == "queued"  # the SDK's literals have no "paused"
    assert paused.model_extra is not None
    assert paused.model_extra["paused"] is True
    _wait_for_log(stack, f"stop {job.id} ", "reason=paused")
    resumed = client.fine_tuning.jobs.resume(job.id)
    assert resumed.status == "queued"
    done = wait_for(client, job.id)
    assert done.status == "succeeded"
    starts = [line for line in trainer_log(stack) if line.startswith(f"start {job.id} ")]
    assert len(starts) == 2
    assert "from=0" in starts[0]
    assert "from=0" not in starts[1]
    messages = event_messages(client, job.id)
    assert "Fine-tuning job paused" in messages
    assert any(m.startswith("Fine-tuning job resumed from the checkpoint") for m in messages)


def test_a_job_on_a_bad_file_fails_with_the_right_error(client: OpenAI) -> None:
    small = upload_training_file(client, chat_jsonl(9))

    job = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=small)
    done = wait_for(client, job.id)

    assert done.status == "failed"
    assert done.error is not None
    assert done.error.code == "invalid_n_examples"
    assert done.error.param == "training_file"
    assert "at least 10 examples" in done.error.message
    assert done.fine_tuned_model is None


def test_create_is_idempotent_with_an_idempotency_key(client: OpenAI, stack: ApiServer) -> None:
    training = upload_training_file(client, chat_jsonl(10))
    headers = {"Idempotency-Key": "create-once-123"}

    first = client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID, training_file=training, extra_headers=headers
    )
    again = client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID, training_file=training, extra_headers=headers
    )
    with pytest.raises(openai.ConflictError) as excinfo:
        client.fine_tuning.jobs.create(
            model=TINY_MODEL_ID, training_file=training, suffix="other", extra_headers=headers
        )

    assert again.id == first.id
    assert excinfo.value.response.headers["x-should-retry"] == "false"
    assert [job.id for job in client.fine_tuning.jobs.list()] == [first.id]
    wait_for(client, first.id)


def test_bad_requests_are_400_naming_the_field(client: OpenAI) -> None:
    training = upload_training_file(client, chat_jsonl(10))
    cases = [
        ({"model": "nope/nope", "training_file": training}, "model", "model_not_available"),
        ({"model": TINY_MODEL_ID, "training_file": "file-missing"}, "training_file", None),
        (
            {"model": TINY_MODEL_ID, "training_file": training, "method": {"type": "dpo"}},
            "training_file",
            "format_mismatch",
        ),
        (
            {
                "model": TINY_MODEL_ID,
                "training_file": training,
                "method": {"type": "reinforcement"},
            },
            "method.type",
            "unsupported_method",
        ),
    ]
    for body, param, code in cases:
        with pytest.raises(openai.BadRequestError) as excinfo:
            client.fine_tuning.jobs.create(**body)  # type: ignore[arg-type]
        assert excinfo.value.param == param, body
        assert excinfo.value.code == code, body
    with pytest.raises(openai.NotFoundError) as missing:
        client.fine_tuning.jobs.retrieve("ftjob-doesnotexist")
    assert missing.value.code == "fine_tune_not_found"


def test_event_stream_follows_the_job_to_its_end(client: OpenAI, stack: ApiServer) -> None:
    training = upload_training_file(client, chat_jsonl(10))
    job = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training)

    data_lines = []
    with httpx.stream(
        "GET",
        f"{stack.base_url}/fine_tuning/jobs/{job.id}/events",
        params={"stream": "true"},
        headers={"Authorization": f"Bearer {client.api_key}"},
        timeout=60,
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                data_lines.append(line.removeprefix("data: "))

    assert data_lines[-1] == "[DONE]"
    assert '"Created fine-tuning job' in data_lines[0]
    assert "The job has successfully completed" in data_lines[-2]


def test_another_projects_job_is_404(client: OpenAI, stack: ApiServer) -> None:
    training = upload_training_file(client, chat_jsonl(10))
    job = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training)
    with OpenAI(
        base_url=stack.base_url, api_key=stack.new_key("intruder"), max_retries=0
    ) as stranger:
        for call in (
            lambda: stranger.fine_tuning.jobs.retrieve(job.id),
            lambda: stranger.fine_tuning.jobs.cancel(job.id),
            lambda: stranger.fine_tuning.jobs.pause(job.id),
            lambda: stranger.fine_tuning.jobs.resume(job.id),
            lambda: stranger.fine_tuning.jobs.list_events(job.id),
            lambda: stranger.fine_tuning.jobs.checkpoints.list(job.id),
        ):
            with pytest.raises(openai.NotFoundError):
                call()
        assert stranger.fine_tuning.jobs.list().data == []
    wait_for(client, job.id)


def _wait_for_checkpoint(client: OpenAI, job_id: str) -> None:
    deadline = time.monotonic() + 30
    while not client.fine_tuning.jobs.checkpoints.list(job_id).data:
        assert time.monotonic() < deadline, "no checkpoint"
        time.sleep(0.1)


def _wait_for_log(stack: ApiServer, prefix: str, needle: str, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if any(line.startswith(prefix) and needle in line for line in trainer_log(stack)):
            return
        assert time.monotonic() < deadline, f"{prefix}…{needle} not in {trainer_log(stack)}"
        time.sleep(0.1)


def test_active_jobs_quota_answers_429_with_retry_after(client: OpenAI) -> None:
    training = upload_training_file(client, chat_jsonl(10))
    slow = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 50}}}
    ids = [
        client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training, method=slow).id
        for _ in range(8)  # the stack allows 8 active jobs per project
    ]

    with pytest.raises(openai.RateLimitError) as excinfo:
        client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training)

    assert excinfo.value.code == "too_many_active_jobs"
    assert int(excinfo.value.response.headers["retry-after"]) > 0
    for job_id in ids:
        client.fine_tuning.jobs.cancel(job_id)
    again = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training)
    assert wait_for(client, again.id).status == "succeeded"


def test_worker_liveness_probe(stack: ApiServer) -> None:
    env = os.environ | stack.config.env()
    for queue in ("ctl", "gpu"):
        deadline = time.monotonic() + 30  # a worker writes its line once it polls
        while True:
            probe = subprocess.run(
                [sys.executable, "-m", "cli", "worker", "--queue", queue, "--check"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if probe.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert probe.returncode == 0, probe.stderr
        assert "j_complete=" in probe.stdout


def test_metrics_expose_jobs_queues_and_request_latency(client: OpenAI, stack: ApiServer) -> None:
    training = upload_training_file(client, chat_jsonl(10))
    job = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training)
    wait_for(client, job.id)

    text = httpx.get(f"{stack.root_url}/metrics").text

    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['ftapi_jobs{status="succeeded"}'] >= 1
    assert 'ftapi_queue_depth{queue="ftapi:gpu"}' in samples
    assert 'ftapi_queue_depth{queue="ftapi:ctl"}' in samples
    assert any(
        name.startswith("ftapi_http_request_duration_seconds_count")
        and 'route="/v1/fine_tuning/jobs"' in name
        and 'method="POST"' in name
        for name in samples
    )


def test_only_the_newest_three_checkpoints_are_kept(client: OpenAI, stack: ApiServer) -> None:
    training = upload_training_file(client, chat_jsonl(10))
    job = client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID,
        training_file=training,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 5}}},
    )
    assert wait_for(client, job.id).status == "succeeded"

    steps = [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
    stored = sorted(
        path.name
        for path in stack.config.data_dir.glob(
            f"blobs/projects/*/jobs/{job.id}/attempts/*/checkpoints/*"
        )
    )

    assert steps == [40, 30, 20]  # one per epoch but the last; step 10 was pruned
    assert stored == ["step-20", "step-30", "step-40"]
