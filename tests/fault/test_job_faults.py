"""Faults with real processes: Redis flushed or restarted, gpu workers killed or stopped.

Each scenario runs its own stack (api, ctl worker, gpu workers with the deterministic trainer)
and, where Redis itself is the victim, its own redis-server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from openai import OpenAI

from tests.support.jobs import (
    TINY_MODEL_ID,
    chat_jsonl,
    event_messages,
    stack_config,
    upload_training_file,
    wait_for,
)
from tests.support.services import RedisServer
from tests.support.stack import ApiServer


def _client(stack: ApiServer, project: str) -> OpenAI:
    return OpenAI(
        base_url=stack.base_url,
        api_key=stack.new_key(project),
        _strict_response_validation=True,
        max_retries=3,
    )


def _starts(stack: ApiServer, job_id: str) -> list[str]:
    path = stack.config.data_dir / "trainer.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in lines if line.startswith(f"start {job_id} ")]


def _long_job(client: OpenAI, training: str, epochs: int) -> str:
    return client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID,
        training_file=training,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}},
    ).id


def _status(client: OpenAI, job_id: str) -> str:
    return client.fine_tuning.jobs.retrieve(job_id).status


def _wait_for_checkpoint(client: OpenAI, job_id: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not client.fine_tuning.jobs.checkpoints.list(job_id).data:
        assert time.monotonic() < deadline, "no checkpoint was saved"
        time.sleep(0.1)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis-aof", persistent=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_flushed_redis_is_rebuilt_and_every_queued_job_finishes(
    tmp_path: Path, redis_server: RedisServer, job_registry: Path
) -> None:
    redis_url = redis_server.new_database_url()
    config = stack_config(tmp_path, redis_url, job_registry)
    with ApiServer(config, gpu_workers=0) as stack, _client(stack, "flush") as client:
        training = upload_training_file(client, chat_jsonl(10))
        ids = [_long_job(client, training, epochs=1) for _ in range(4)]
        for job_id in ids:
            wait_for(client, job_id, lambda job: job.status == "queued", timeout_s=30)

        redis.Redis.from_url(redis_url).flushdb()  # every queued task is gone
        stack.add_gpu_worker()

        for job_id in ids:
            assert wait_for(client, job_id, timeout_s=60).status == "succeeded"
            assert len(_starts(stack, job_id)) == 1  # restored once, run once


def test_a_killed_gpu_worker_loses_no_job(
    tmp_path: Path, redis_server: RedisServer, job_registry: Path
) -> None:
    config = stack_config(
        tmp_path,
        redis_server.new_database_url(),
        job_registry,
        FTAPI_TEST_TRAINER_STEP_S="0.05",
    )
    with ApiServer(config, gpu_workers=1) as stack, _client(stack, "kill") as client:
        victim = next(w for w in stack.workers if w.queue == "gpu")
        training = upload_training_file(client, chat_jsonl(10))
        job_id = _long_job(client, training, epochs=6)
        wait_for(client, job_id, lambda job: job.status == "running", timeout_s=30)
        _wait_for_checkpoint(client, job_id)

        victim.kill()  # SIGKILL mid-training: no goodbye, the heartbeat just stops
        stack.add_gpu_worker()

        done = wait_for(client, job_id, timeout_s=90)
        assert done.status == "succeeded", done.error
        starts = _starts(stack, job_id)
        assert len(starts) == 2
        assert "from=0" not in starts[1]  # resumed from the checkpoint
        published = [
            m.id for m in client.models.list() if m.id.startswith("ft:") and ":ckpt-" not in m.id
        ]
        assert published == [done.fine_tuned_model]  # one adapter, not one per attempt
        assert any("runner stopped responding" in m for m in event_messages(client, job_id))


def test_a_stopped_gpu_worker_hands_its_job_back_at_once(
    tmp_path: Path, redis_server: RedisServer, job_registry: Path
) -> None:
    config = stack_config(
        tmp_path,
        redis_server.new_database_url(),
        job_registry,
        FTAPI_TEST_TRAINER_STEP_S="0.05",
        FTAPI_JOBS__STALE_HEARTBEAT_S="600",  # the reconciler must not be what saves the job
    )
    with ApiServer(config, gpu_workers=1) as stack, _client(stack, "term") as client:
        first = next(w for w in stack.workers if w.queue == "gpu")
        training = upload_training_file(client, chat_jsonl(10))
        job_id = _long_job(client, training, epochs=6)
        wait_for(client, job_id, lambda job: job.status == "running", timeout_s=30)

        first.stop(timeout_s=30)  # SIGTERM, as a deploy or a scale-in sends
        requeued = wait_for(client, job_id, lambda job: job.status == "queued", timeout_s=10)
        assert requeued.status == "queued"
        stack.add_gpu_worker()

        assert wait_for(client, job_id, timeout_s=90).status == "succeeded"
        assert any("the worker stopped" in m for m in event_messages(client, job_id))


def test_workers_survive_a_redis_restart(
    tmp_path: Path, private_redis: RedisServer, job_registry: Path
) -> None:
    config = stack_config(
        tmp_path, private_redis.new_database_url(), job_registry, FTAPI_TEST_TRAINER_STEP_S="0.05"
    )
    with ApiServer(config, gpu_workers=1) as stack, _client(stack, "restart") as client:
        training = upload_training_file(client, chat_jsonl(10))
        running = _long_job(client, training, epochs=4)
        wait_for(client, running, lambda job: job.status == "running", timeout_s=30)

        private_redis.restart()  # no persistence: every key is gone

        assert wait_for(client, running, timeout_s=90).status == "succeeded"
        after = _long_job(client, training, epochs=1)
        assert wait_for(client, after, timeout_s=60).status == "succeeded"
        assert all(worker.alive() for worker in stack.workers)


def test_a_redis_restart_that_keeps_its_data_finishes_every_job_exactly_once(
    tmp_path: Path, persistent_redis: RedisServer, job_registry: Path
) -> None:
    config = stack_config(
        tmp_path,
        persistent_redis.new_database_url(),
        job_registry,
        FTAPI_TEST_TRAINER_STEP_S="0.05",
    )
    with ApiServer(config, gpu_workers=1) as stack, _client(stack, "aof") as client:
        training = upload_training_file(client, chat_jsonl(10))
        ids = [_long_job(client, training, epochs=6) for _ in range(3)]
        deadline = time.monotonic() + 30
        # One gpu worker: one job trains while the others wait in the queue.
        while (statuses := [_status(client, i) for i in ids]).count("running") != 1 or (
            "queued" not in statuses
        ):
            assert time.monotonic() < deadline, statuses
            time.sleep(0.05)

        persistent_redis.restart()  # AOF: queued tasks and in-progress markers survive

        for job_id in ids:
            done = wait_for(client, job_id, timeout_s=90)
            assert done.status == "succeeded", done.error
            terminal = [m for m in event_messages(client, job_id) if "successfully completed" in m]
            assert len(terminal) == 1, terminal  # finished once, never twice
        assert all(worker.alive() for worker in stack.workers)
