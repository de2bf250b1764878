"""The sweep and the blob reaper give a poisoned row up once and handle the others (issue #16).

Real processes: the api under uvicorn, Redis, and a ctl worker that loads
``tests/support/injected_faults`` first, so rows carrying its marker raise a bug deep inside the
real cron code. Both crons run every second here. Each case must handle the healthy rows within
one interval, count the poisoned row once in /metrics, log it once, and stay quiet over the
passes after it.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.integration.models.test_reaper_cron import job_blobs, publish_with_blobs
from tests.support import fault_markers as faults
from tests.support.jobs import chat_jsonl, stack_config, upload_training_file
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, WorkerProcess

INTERVAL_S = 1  # the reconciler's, which the sweep and the reaper run at
QUIET_PASSES = 3
INJECTED_FAULTS = faults.INJECTED_FAULTS_DIR
ONE_HOUR_AGO_S = 3600


@pytest.fixture(scope="module")
def cron_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, job_registry: Path
) -> Iterator[ApiServer]:
    """Api and a ctl worker with the injected faults; uploads expire after a second, deleted
    models' blobs go at once, and writes untouched for a minute count as abandoned."""
    config = stack_config(
        tmp_path_factory.mktemp("cron-faults"),
        redis_server.new_database_url(),
        job_registry,
        FTAPI_JOBS__RECONCILE_INTERVAL_S=str(INTERVAL_S),
        FTAPI_LIMITS__UPLOAD_TTL_S="1",
        FTAPI_MODELS__DELETED_BLOB_GRACE_S="0",
        FTAPI_STORAGE__ABANDONED_WRITE_S="60",
    )
    server = ApiServer(config, ctl_worker=False)
    server.workers.append(WorkerProcess(config, "ctl", preload_dir=INJECTED_FAULTS))
    with server:
        upload_training_file(_client(server, "warm-up"), chat_jsonl(3))  # the ctl worker is up
        yield server


def _client(stack: ApiServer, project: str) -> OpenAI:
    return OpenAI(
        base_url=stack.base_url,
        api_key=stack.new_key(project),
        _strict_response_validation=True,
        max_retries=3,
    )


def _log(stack: ApiServer) -> list[str]:
    return stack.workers[0].log_path.read_text().splitlines()


def _given_up(stack: ApiServer, task: str) -> float:
    text = httpx.get(f"{stack.root_url}/metrics", timeout=10).text
    found = re.search(rf'^ftapi_tasks_given_up_total\{{task="{task}"\}} (\S+)$', text, re.M)
    return 0.0 if found is None else float(found.group(1))


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "timed out"
        time.sleep(0.1)
    return time.monotonic() - started


def _upload_status(stack: ApiServer, upload_id: str) -> str:
    with sqlite3.connect(stack.config.data_dir / "ftapi.db") as db:
        (status,) = db.execute("SELECT status FROM uploads WHERE id = ?", (upload_id,)).fetchone()
    return str(status)


def _abandoned_write(temp_dir: Path, name: str) -> Path:
    """A temp file as a writer that died an hour ago leaves it."""
    path = temp_dir / name
    path.write_bytes(b"half a file")
    an_hour_ago = time.time() - ONE_HOUR_AGO_S
    os.utime(path, (an_hour_ago, an_hour_ago))
    return path


def test_a_poisoned_sweep_row_is_given_up_once_and_the_others_are_swept(
    cron_stack: ApiServer,
) -> None:
    client = _client(cron_stack, "sweep")
    temp_dir = cron_stack.config.data_dir / "blobs" / ".tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    poisoned_write = _abandoned_write(temp_dir, f"{faults.POISONED_SWEEP_NAME}-write")
    dead_writes = [_abandoned_write(temp_dir, f"dead-writer-{n}") for n in range(2)]
    # Two steps meet a poisoned row: the uploads step first, the abandoned writes after it.
    uploads = [
        client.uploads.create(
            bytes=10, filename=f"{name}.jsonl", mime_type="text/jsonl", purpose="fine-tune"
        ).id
        for name in (faults.POISONED_SWEEP_NAME, "healthy")
    ]
    poisoned_upload, healthy_upload = uploads

    took_s = _wait_until(
        lambda: (
            _given_up(cron_stack, "sweep") == 2
            and not any(path.exists() for path in dead_writes)
            and _upload_status(cron_stack, healthy_upload) == "expired"
        ),
        timeout_s=1 + INTERVAL_S + 5,  # the uploads' time to live, then one pass
    )
    lines_before = len(_log(cron_stack))
    time.sleep(QUIET_PASSES * INTERVAL_S)

    log = _log(cron_stack)
    print(f"sweep: healthy rows swept in {took_s:.2f}s; given up {_given_up(cron_stack, 'sweep')}")
    assert len(log) == lines_before  # nothing retried, nothing logged again
    assert sum(f"injected: expiring {poisoned_upload} crashed" in line for line in log) == 1
    assert sum("injected: discarding poison-sweep-write crashed" in line for line in log) == 1
    assert _upload_status(cron_stack, poisoned_upload) == "pending"
    assert poisoned_write.exists()
    assert _given_up(cron_stack, "sweep") == 2


def test_a_poisoned_model_is_given_up_once_and_the_others_are_reaped(
    cron_stack: ApiServer,
) -> None:
    key = cron_stack.new_key("reap")
    poisoned_job = f"ftjob-{faults.POISONED_REAP_JOB}0000000000000000"
    healthy_job = "ftjob-healthy000000000000000000000"
    models = [publish_with_blobs(cron_stack, key, job) for job in (poisoned_job, healthy_job)]
    for model in models:  # the poisoned model first: the reaper takes the oldest deletion first
        deleted = httpx.delete(
            f"{cron_stack.base_url}/models/{model}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert deleted.status_code == 200, deleted.text

    took_s = _wait_until(
        lambda: (
            _given_up(cron_stack, "reap_model_blobs") == 1
            and not job_blobs(cron_stack, healthy_job)
        ),
        timeout_s=INTERVAL_S + 5,
    )
    lines_before = len(_log(cron_stack))
    time.sleep(QUIET_PASSES * INTERVAL_S)

    log = _log(cron_stack)
    print(
        f"reap_model_blobs: healthy model reaped in {took_s:.2f}s; "
        f"given up {_given_up(cron_stack, 'reap_model_blobs')}"
    )
    assert len(log) == lines_before
    assert sum(f"injected: reaping {models[0]} crashed" in line for line in log) == 1
    assert len(job_blobs(cron_stack, poisoned_job)) == 3
    assert _given_up(cron_stack, "reap_model_blobs") == 1
