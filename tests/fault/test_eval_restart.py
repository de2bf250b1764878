"""An eval run outlives its ctl worker, with real processes: the api, Redis, ctl workers, and a
``ChatStub`` behind the inference gateway that counts every sample asked for and can hold them.

SIGKILL mid-run: the reconciler finds the heartbeat stale, re-queues the run, and a new worker
finishes it; every item is graded exactly once, and no item stored before the kill is sampled
again. SIGTERM mid-run: the worker hands the run back at once (queued, nothing lost), and the
next worker finishes it. Redis flushed while a run is queued: the reconciler enqueues it again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from openai import OpenAI

from service.queue.names import ARQ_JOB_KEY_PREFIX, run_eval_key
from tests.support.eval_runs import (
    ChatStub,
    chat_stub,
    eval_stack_config,
    run_attempts,
    sdk,
    stored_item_ids,
    wait_for_run,
    wait_until,
)
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, StackConfig, WorkerProcess, write_registry

ITEMS = 30
ANSWERED_BEFORE_THE_STOP = 10
PER_RUN_LIMIT = 4
MODEL = "stub/echo"


@pytest.fixture
def stub() -> Iterator[ChatStub]:
    with chat_stub() as server:
        yield server


@pytest.fixture
def stack(tmp_path: Path, redis_server: RedisServer, stub: ChatStub) -> Iterator[ApiServer]:
    registry = tmp_path / "models.toml"
    write_registry(registry, {MODEL: tmp_path})
    config = eval_stack_config(
        tmp_path / "stack",
        redis_server.new_database_url(),
        FTAPI_MODELS__REGISTRY_PATH=str(registry),
        FTAPI_SERVING__AGENT_URLS=json.dumps([stub.agent_url]),
        FTAPI_EVALS__MAX_CONCURRENT_SAMPLES_PER_RUN=str(PER_RUN_LIMIT),
    )
    with ApiServer(config) as api:
        yield api


def _start_run(client: OpenAI) -> tuple[str, str, list[str]]:
    eval_id = client.evals.create(
        name="restart",
        data_source_config={
            "type": "custom",
            "item_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
            "include_sample_schema": True,
        },
        testing_criteria=[
            {
                "type": "string_check",
                "name": "echoed",
                "input": "{{sample.output_text}}",
                "reference": "{{item.q}}",
                "operation": "eq",
            }
        ],
    ).id
    questions = [f"question {i:02d}" for i in range(ITEMS)]
    data_source: dict[str, Any] = {
        "type": "completions",
        "model": MODEL,
        "input_messages": {
            "type": "template",
            "template": [{"role": "user", "content": "{{item.q}}"}],
        },
        "source": {"type": "file_content", "content": [{"item": {"q": q}} for q in questions]},
    }
    run = client.evals.runs.create(eval_id, data_source=data_source)  # type: ignore[arg-type]
    return eval_id, run.id, questions


def _stop_mid_run(stack: ApiServer, stub: ChatStub, run_id: str) -> set[int]:
    """Let the first items be answered and stored while the next ones hang; returns the ids
    stored by then."""
    data_dir = stack.config.data_dir
    wait_until(lambda: stub.held() == PER_RUN_LIMIT, "samples in flight to be held")
    wait_until(
        lambda: len(stored_item_ids(data_dir, run_id)) == ANSWERED_BEFORE_THE_STOP,
        "the answered items to be stored",
    )
    return set(stored_item_ids(data_dir, run_id))


def _check_graded_once(
    stack: ApiServer,
    stub: ChatStub,
    client: OpenAI,
    eval_id: str,
    run_id: str,
    questions: list[str],
    stored_before: set[int],
) -> None:
    done = wait_for_run(client, eval_id, run_id, timeout_s=90)
    assert done.status == "completed", done.error
    assert stored_item_ids(stack.config.data_dir, run_id) == list(range(ITEMS))
    counts = done.result_counts
    assert (counts.total, counts.passed, counts.errored) == (ITEMS, ITEMS, 0)
    [usage] = done.per_model_usage
    assert usage.invocation_count == ITEMS  # counted from the stored items: once each
    asked = Counter(stub.prompts())
    assert set(asked) == set(questions)
    assert all(asked[questions[i]] == 1 for i in stored_before), "a stored item was resampled"
    # Only the samples in flight when the worker stopped were asked for twice.
    assert sum(asked.values()) - ITEMS <= PER_RUN_LIMIT
    assert run_attempts(stack.config.data_dir, run_id) == 2


def test_a_killed_worker_s_run_completes_with_every_item_graded_once(
    stack: ApiServer, stub: ChatStub
) -> None:
    client = sdk(stack.base_url, stack.new_key("sigkill"))
    stub.hold_after(ANSWERED_BEFORE_THE_STOP)
    eval_id, run_id, questions = _start_run(client)
    stored_before = _stop_mid_run(stack, stub, run_id)

    [worker] = stack.workers
    worker.kill()
    assert client.evals.runs.retrieve(run_id, eval_id=eval_id).status == "in_progress"
    stub.release()
    _start_worker(stack, stack.config)

    _check_graded_once(stack, stub, client, eval_id, run_id, questions, stored_before)


def test_a_stopping_worker_hands_its_run_back_and_the_next_one_finishes_it(
    stack: ApiServer, stub: ChatStub
) -> None:
    client = sdk(stack.base_url, stack.new_key("sigterm"))
    stub.hold_after(ANSWERED_BEFORE_THE_STOP)
    eval_id, run_id, questions = _start_run(client)
    stored_before = _stop_mid_run(stack, stub, run_id)

    [worker] = stack.workers
    worker.stop()  # SIGTERM: arq cancels the task, which hands the run back
    assert client.evals.runs.retrieve(run_id, eval_id=eval_id).status == "queued"
    assert stored_item_ids(stack.config.data_dir, run_id) == sorted(stored_before)
    stub.release()
    _start_worker(stack, stack.config)

    _check_graded_once(stack, stub, client, eval_id, run_id, questions, stored_before)


def _start_worker(stack: ApiServer, config: StackConfig) -> None:
    worker = WorkerProcess(config, "ctl")
    worker.start()
    stack.workers.append(worker)  # stopped with the stack


def test_a_queued_run_whose_task_redis_lost_is_enqueued_again(
    stack: ApiServer, stub: ChatStub
) -> None:
    client = sdk(stack.base_url, stack.new_key("flushed"))
    [worker] = stack.workers
    worker.stop()  # no worker: the run's task waits in Redis
    eval_id, run_id, _ = _start_run(client)
    flushed = redis.Redis.from_url(stack.config.redis_url)
    try:
        assert flushed.exists(ARQ_JOB_KEY_PREFIX + run_eval_key(run_id, 1))
        flushed.flushdb()
    finally:
        flushed.close()
    _start_worker(stack, stack.config)  # its reconcile cron finds the run queued, no task

    done = wait_for_run(client, eval_id, run_id)
    assert done.status == "completed", done.error
    assert done.result_counts.total == ITEMS
    assert run_attempts(stack.config.data_dir, run_id) == 1
