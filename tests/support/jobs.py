"""Helpers for job tests: fast stack settings, training files, waiting on jobs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob

from tests.support.stack import ApiServer, StackConfig

TINY_MODEL_ID = "ftapi/tiny-chatml"
TERMINAL = ("succeeded", "failed", "cancelled")

# Fast timings: heartbeats every 0.3 s, a runner silent for 3 s is lost, reconcile every second.
FAST_JOBS_ENV = {
    "FTAPI_JOBS__HEARTBEAT_INTERVAL_S": "0.3",
    "FTAPI_JOBS__STALE_HEARTBEAT_S": "3",
    "FTAPI_JOBS__RECONCILE_INTERVAL_S": "1",
    "FTAPI_JOBS__MAX_ACTIVE_JOBS_PER_PROJECT": "8",
    "FTAPI_TEST_TRAINER_STEP_S": "0.02",
}


def stack_config(data_dir: Path, redis_url: str, registry: Path, **extra_env: str) -> StackConfig:
    """A SQLite + local-disk stack with fast job timings and the test trainer's log."""
    return StackConfig(
        data_dir=data_dir,
        redis_url=redis_url,
        extra_env=FAST_JOBS_ENV
        | {
            "FTAPI_MODELS__REGISTRY_PATH": str(registry),
            "FTAPI_TEST_TRAINER_LOG": str(data_dir / "trainer.log"),
        }
        | extra_env,
    )


def chat_jsonl(n_examples: int, *, answer: str = "the answer") -> bytes:
    """A valid chat training file."""
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"question {i}"},
                    {"role": "assistant", "content": f"{answer} {i}"},
                ]
            }
        )
        for i in range(n_examples)
    ]
    return ("\n".join(lines) + "\n").encode()


def upload_training_file(client: OpenAI, body: bytes, name: str = "train.jsonl") -> str:
    created = client.files.create(file=(name, body), purpose="fine-tune")
    client.files.wait_for_processing(created.id, poll_interval=0.1, max_wait_seconds=30)
    return created.id


def wait_for(
    client: OpenAI,
    job_id: str,
    done: Callable[[FineTuningJob], bool] = lambda job: job.status in TERMINAL,
    timeout_s: float = 60,
) -> FineTuningJob:
    """Poll the job until ``done`` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if done(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stuck in {job.status}: {job.model_dump()}")
        time.sleep(0.1)


def trainer_log(stack: ApiServer) -> list[str]:
    path = stack.config.data_dir / "trainer.log"
    return path.read_text().splitlines() if path.exists() else []


def event_messages(client: OpenAI, job_id: str) -> list[str]:
    """All event messages, oldest first."""
    events: list[Any] = list(client.fine_tuning.jobs.list_events(job_id, limit=100))
    return [event.message for event in reversed(events)]
