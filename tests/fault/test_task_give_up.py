"""Background tasks that fail end their object in a state a user can act on (issue #16).

Real processes: the api under uvicorn, Redis, and a ctl worker that loads
``tests/support/injected_faults`` first, so inputs carrying its markers raise deep inside the
real validation code (a bug) or fail as a blob-store outage would. Every other input, and every
other process, runs the production code unchanged.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from arq.jobs import Job, JobStatus
from openai import OpenAI

from service.queue.arq_queue import arq_redis
from service.queue.names import QueueName, validate_job_key
from service.queue.serialization import deserialize
from tests.support import fault_markers as faults
from tests.support.jobs import TINY_MODEL_ID, chat_jsonl, stack_config, upload_training_file
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, WorkerProcess

RECONCILE_INTERVAL_S = 1
INJECTED_FAULTS = faults.INJECTED_FAULTS_DIR


@pytest.fixture
def stack(tmp_path: Path, redis_server: RedisServer, job_registry: Path) -> Iterator[ApiServer]:
    config = stack_config(
        tmp_path,
        redis_server.new_database_url(),
        job_registry,
        FTAPI_JOBS__RECONCILE_INTERVAL_S=str(RECONCILE_INTERVAL_S),
        FTAPI_TEST_SLOW_VALIDATION_LOG=str(tmp_path / "slow-validation.log"),
    )
    server = ApiServer(config, ctl_worker=False)
    server.workers.append(WorkerProcess(config, "ctl", preload_dir=INJECTED_FAULTS))
    with server:
        yield server


def _client(stack: ApiServer) -> OpenAI:
    return OpenAI(
        base_url=stack.base_url,
        api_key=stack.new_key("faults"),
        _strict_response_validation=True,
        max_retries=3,
    )


def _ctl_log(stack: ApiServer) -> list[str]:
    return stack.workers[0].log_path.read_text().splitlines()


def _given_up(stack: ApiServer, task: str) -> float:
    text = httpx.get(f"{stack.root_url}/metrics", timeout=10).text
    found = re.search(rf'^ftapi_tasks_given_up_total\{{task="{task}"\}} (\S+)$', text, re.M)
    return 0.0 if found is None else float(found.group(1))


def _wait_for_status(client: OpenAI, job_id: str, status: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while (current := client.fine_tuning.jobs.retrieve(job_id).status) != status:
        assert time.monotonic() < deadline, f"job still {current}"
        time.sleep(0.1)
    return current


def test_a_file_whose_validation_crashes_ends_in_error_once(stack: ApiServer) -> None:
    client = _client(stack)
    upload_training_file(client, chat_jsonl(3))  # the ctl worker is up and validating
    created = client.files.create(
        file=("train.jsonl", chat_jsonl(3, answer=faults.CRASHING_FILE.decode())),
        purpose="fine-tune",
    )
    started = time.monotonic()
    done = client.files.wait_for_processing(
        created.id, poll_interval=0.1, max_wait_seconds=RECONCILE_INTERVAL_S + 5
    )
    took_s = time.monotonic() - started
    assert done.status == "error"
    assert done.status_details is not None
    assert "internal error" in done.status_details
    assert "upload the file again" in done.status_details.lower()

    # Three reconcile passes later nothing was retried: one traceback, and a quiet log.
    lines_before = len(_ctl_log(stack))
    time.sleep(3 * RECONCILE_INTERVAL_S)
    log = _ctl_log(stack)
    print(
        f"validation ended in {took_s:.2f}s; ctl worker log: {len(log)} lines, "
        f"{len(log) - lines_before} added over 3 reconcile intervals"
    )
    assert len(log) == lines_before
    assert sum("Traceback" in line for line in log) == 1
    assert sum("injected: the validator crashed" in line for line in log) == 1
    assert client.files.retrieve(created.id).status == "error"
    assert _given_up(stack, "validate_file") == 1


def test_a_job_whose_validation_crashes_fails_with_internal_error(stack: ApiServer) -> None:
    client = _client(stack)
    training = upload_training_file(client, chat_jsonl(3))
    job = client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID, training_file=training, suffix=faults.CRASHING_JOB_SUFFIX
    )

    _wait_for_status(client, job.id, "failed", timeout_s=RECONCILE_INTERVAL_S + 5)
    lines_before = len(_ctl_log(stack))
    time.sleep(3 * RECONCILE_INTERVAL_S)

    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.error is not None
    assert failed.error.code == "internal_error"
    assert "Create the job again" in failed.error.message
    assert len(_ctl_log(stack)) == lines_before
    assert sum("injected: job validation crashed" in line for line in _ctl_log(stack)) == 1
    assert _given_up(stack, "validate_job") == 1


def _with_line(n_lines: int, line: int, answer: str) -> bytes:
    """A valid chat file of ``n_lines`` whose line ``line`` (1-based) answers ``answer``."""
    lines = chat_jsonl(n_lines).splitlines()
    lines[line - 1] = chat_jsonl(1, answer=answer).strip()
    return b"\n".join(lines) + b"\n"


def test_a_file_given_up_names_the_line_or_the_full_blob_store(stack: ApiServer) -> None:
    client = _client(stack)
    upload_training_file(client, chat_jsonl(3))  # the ctl worker is up and validating
    crashing = client.files.create(
        file=("train.jsonl", _with_line(5, 3, faults.CRASHING_LINE)), purpose="fine-tune"
    )
    full = client.files.create(
        file=("train.jsonl", chat_jsonl(3, answer=faults.STORAGE_FULL_FILE.decode())),
        purpose="fine-tune",
    )

    crashed, found_full = (
        client.files.wait_for_processing(
            created.id, poll_interval=0.1, max_wait_seconds=RECONCILE_INTERVAL_S + 5
        )
        for created in (crashing, full)
    )

    assert crashed.status == "error"
    assert crashed.status_details is not None
    assert crashed.status_details.startswith("line 3: internal_error: ")
    assert "Change or remove line 3" in crashed.status_details
    assert crashing.id in crashed.status_details
    assert found_full.status == "error"
    assert found_full.status_details is not None
    assert found_full.status_details.startswith("storage_full: ")
    log = _ctl_log(stack)
    assert sum("injected: checking a line crashed" in line for line in log) == 1
    assert sum("injected: the blob store has no space left" in line for line in log) == 1
    assert not any("trying again" in line for line in log)  # a full store is not retried
    assert _given_up(stack, "validate_file") == 2


def test_a_job_given_up_names_the_line_or_the_full_blob_store(stack: ApiServer) -> None:
    client = _client(stack)
    training = upload_training_file(client, _with_line(10, 4, faults.CRASHING_TOKENIZER))
    crashing = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training)
    full = client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID,
        training_file=upload_training_file(client, chat_jsonl(3)),
        suffix=faults.STORAGE_FULL_JOB_SUFFIX,
    )

    for job in (crashing, full):
        _wait_for_status(client, job.id, "failed", timeout_s=RECONCILE_INTERVAL_S + 5)

    crashed = client.fine_tuning.jobs.retrieve(crashing.id).error
    assert crashed is not None
    assert crashed.code == "internal_error"
    assert f"at line 4 of {training}" in crashed.message
    assert crashing.id in crashed.message
    found_full = client.fine_tuning.jobs.retrieve(full.id).error
    assert found_full is not None
    assert found_full.code == "storage_full"
    assert "no space left" in found_full.message
    log = _ctl_log(stack)
    assert sum("injected: the tokenizer crashed" in line for line in log) == 1
    assert not any("trying again" in line for line in log)
    assert _given_up(stack, "validate_job") == 2


def test_a_blob_store_outage_is_retried_and_the_file_is_processed(stack: ApiServer) -> None:
    client = _client(stack)
    body = chat_jsonl(3, answer=faults.FLAKY_STORE_FILE.decode())

    done = upload_training_file(client, body)

    assert client.files.retrieve(done).status == "processed"
    retries = [line for line in _ctl_log(stack) if "trying again" in line]
    assert len(retries) == faults.FLAKY_STORE_FAILURES
    assert not any("Traceback" in line for line in _ctl_log(stack))
    assert _given_up(stack, "validate_file") == 0


def test_a_job_validation_cut_short_by_sigterm_is_picked_up_again(
    stack: ApiServer, tmp_path: Path
) -> None:
    client = _client(stack)
    starts = tmp_path / "slow-validation.log"
    training = upload_training_file(client, chat_jsonl(3))
    job = client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID, training_file=training, suffix=faults.SLOW_JOB_SUFFIX
    )
    _wait_until(lambda: starts.exists() and len(starts.read_text().splitlines()) == 1)

    first = stack.workers[0]
    first.stop()  # SIGTERM mid-task, as a deploy does
    second = WorkerProcess(stack.config, "ctl", preload_dir=INJECTED_FAULTS)
    stack.workers.append(second)
    second.start()

    _wait_until(lambda: len(starts.read_text().splitlines()) == 2, timeout_s=30)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
    first_log = first.log_path.read_text()
    assert "serialize" not in first_log
    assert "Traceback" not in first_log
    assert _given_up(stack, "validate_job") == 0
    client.fine_tuning.jobs.cancel(job.id)


def test_a_ctl_task_aborted_before_it_starts_ends_cleanly_and_is_queued_again(
    stack: ApiServer,
) -> None:
    client = _client(stack)
    training = upload_training_file(client, chat_jsonl(10))
    stack.workers[0].stop()  # no ctl worker: the job's validation waits in the queue
    job = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training)

    async def abort() -> None:
        queue = arq_redis(stack.config.redis_url)
        try:
            task = Job(
                validate_job_key(job.id),
                queue,
                _queue_name=QueueName.CTL.value,
                _deserializer=deserialize,
            )
            assert await task.status() is JobStatus.queued
            with pytest.raises(TimeoutError):  # nobody runs it yet, so no answer comes
                await task.abort(timeout=0.2, poll_delay=0.05)
        finally:
            await queue.aclose(close_connection_pool=True)

    asyncio.run(abort())
    # INFO, so arq's line for the abort shows in the log.
    second = WorkerProcess(
        stack.config, "ctl", {"FTAPI_LOG_LEVEL": "INFO"}, preload_dir=INJECTED_FAULTS
    )
    stack.workers.append(second)
    second.start()

    _wait_for_status(client, job.id, "queued", timeout_s=30)
    log = second.log_path.read_text()
    assert f"{validate_job_key(job.id)}:validate_job aborted before start" in log
    assert "serialize" not in log
    assert "Traceback" not in log
    assert _given_up(stack, "validate_job") == 0


def _wait_until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
