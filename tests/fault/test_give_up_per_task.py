"""The gpu worker's training claim, webhook delivery and the reconciler give up once (issue #16).

Real processes: the api under uvicorn, Redis, a ctl worker and (where training runs) a gpu
worker running the deterministic trainer, both loading ``tests/support/injected_faults`` first,
so inputs carrying its markers raise a bug deep inside the real code. Each case must end its
object (or skip its row) within one reconcile interval, be counted once in /metrics, and stay
quiet over the passes after it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from openai import OpenAI

from service.queue.names import ARQ_JOB_KEY_PREFIX, train_key
from tests.integration.webhooks.conftest import OPEN_WEBHOOKS_ENV
from tests.integration.webhooks.receiver import WebhookReceiver
from tests.support import fault_markers as faults
from tests.support.jobs import (
    TINY_MODEL_ID,
    chat_jsonl,
    event_messages,
    stack_config,
    upload_training_file,
)
from tests.support.services import RedisServer
from tests.support.stack import DETERMINISTIC_TRAINER, ApiServer, WorkerProcess

RECONCILE_INTERVAL_S = 1
QUIET_PASSES = 3
INJECTED_FAULTS = faults.INJECTED_FAULTS_DIR


def _stack(tmp_path: Path, redis_url: str, registry: Path, *, gpu_worker: bool) -> ApiServer:
    config = stack_config(
        tmp_path,
        redis_url,
        registry,
        FTAPI_JOBS__RECONCILE_INTERVAL_S=str(RECONCILE_INTERVAL_S),
        **OPEN_WEBHOOKS_ENV,
    )
    server = ApiServer(config, ctl_worker=False)
    server.workers.append(WorkerProcess(config, "ctl", preload_dir=INJECTED_FAULTS))
    if gpu_worker:
        gpu_env = {"FTAPI_TRAINER__IMPORT_PATH": DETERMINISTIC_TRAINER}
        server.workers.append(WorkerProcess(config, "gpu", gpu_env, preload_dir=INJECTED_FAULTS))
    return server


@pytest.fixture
def stack(tmp_path: Path, redis_server: RedisServer, job_registry: Path) -> Iterator[ApiServer]:
    """Api, ctl worker and gpu worker, all with the injected faults."""
    with _stack(tmp_path, redis_server.new_database_url(), job_registry, gpu_worker=True) as s:
        yield s


@pytest.fixture
def ctl_stack(tmp_path: Path, redis_server: RedisServer, job_registry: Path) -> Iterator[ApiServer]:
    """Api and ctl worker only: queued jobs stay queued, so every pass reconciles them."""
    with _stack(tmp_path, redis_server.new_database_url(), job_registry, gpu_worker=False) as s:
        yield s


def _client(stack: ApiServer) -> OpenAI:
    return OpenAI(
        base_url=stack.base_url,
        api_key=stack.new_key("faults"),
        _strict_response_validation=True,
        max_retries=3,
    )


def _log(worker: WorkerProcess) -> list[str]:
    return worker.log_path.read_text().splitlines()


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


def _status(client: OpenAI, job_id: str) -> str:
    return client.fine_tuning.jobs.retrieve(job_id).status


def test_a_training_claim_that_crashes_fails_the_job_once(stack: ApiServer) -> None:
    client = _client(stack)
    gpu = stack.workers[1]
    training = upload_training_file(client, chat_jsonl(10))
    job = client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID, training_file=training, suffix=faults.CRASHING_CLAIM_SUFFIX
    )
    _wait_until(lambda: _status(client, job.id) != "validating_files", timeout_s=10)

    took_s = _wait_until(lambda: _status(client, job.id) == "failed", RECONCILE_INTERVAL_S + 5)
    lines_before = len(_log(gpu))
    time.sleep(QUIET_PASSES * RECONCILE_INTERVAL_S)

    failed = client.fine_tuning.jobs.retrieve(job.id)
    print(f"train: failed {took_s:.2f}s after validation; given up {_given_up(stack, 'train'):.0f}")
    assert failed.error is not None
    assert failed.error.code == "internal_error"
    assert "The training task" in failed.error.message
    assert len(_log(gpu)) == lines_before  # nothing claimed or logged again
    assert sum("injected: the training claim crashed" in line for line in _log(gpu)) == 1
    assert event_messages(client, job.id).count("Fine-tuning job started") == 1  # one claim
    assert _given_up(stack, "train") == 1


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_webhook_delivery_that_crashes_ends_failed_once(
    stack: ApiServer, receiver: WebhookReceiver
) -> None:
    client = _client(stack)
    ctl = stack.workers[0]
    endpoint = client.webhooks.create(
        url=receiver.url + faults.CRASHING_DELIVERY_PATH,
        name="crashing",
        event_types=["fine_tuning.job.cancelled"],
    )
    training = upload_training_file(client, chat_jsonl(10))
    client.fine_tuning.jobs.cancel(
        client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training).id
    )
    auth = {"Authorization": f"Bearer {client.api_key}"}
    with httpx.Client(base_url=stack.base_url, headers=auth) as http:

        def deliveries() -> list[dict[str, object]]:
            page = http.get(f"/webhook_endpoints/{endpoint.id}/deliveries").json()
            return list(page["data"])

        took_s = _wait_until(
            lambda: [d["status"] for d in deliveries()] == ["failed"], RECONCILE_INTERVAL_S + 5
        )
        lines_before = len(_log(ctl))
        time.sleep(QUIET_PASSES * RECONCILE_INTERVAL_S)
        (delivery,) = deliveries()

    print(
        f"deliver_webhook: failed in {took_s:.2f}s; "
        f"given up {_given_up(stack, 'deliver_webhook'):.0f}"
    )
    assert delivery["status"] == "failed"
    assert "internal error" in str(delivery["last_error"])
    assert len(_log(ctl)) == lines_before
    assert sum("injected: the delivery attempt crashed" in line for line in _log(ctl)) == 1
    assert receiver.requests == []
    assert _given_up(stack, "deliver_webhook") == 1


def test_a_poisoned_job_row_does_not_stop_the_reconciler(ctl_stack: ApiServer) -> None:
    client = _client(ctl_stack)
    ctl = ctl_stack.workers[0]
    training = upload_training_file(client, chat_jsonl(10))
    poisoned = client.fine_tuning.jobs.create(
        model=TINY_MODEL_ID, training_file=training, suffix=faults.POISONED_JOB_SUFFIX
    )
    _wait_until(lambda: _given_up(ctl_stack, "reconcile") == 1, RECONCILE_INTERVAL_S + 10)
    healthy = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training)
    _wait_until(lambda: _status(client, healthy.id) == "queued", timeout_s=10)

    # The healthy job's task is lost (as in a Redis flush): the next pass, which meets the
    # poisoned row first (oldest first), must queue it again.
    lost = ARQ_JOB_KEY_PREFIX + train_key(healthy.id, 1)
    with redis.Redis.from_url(ctl_stack.config.redis_url) as queue:
        assert queue.delete(lost) == 1
        took_s = _wait_until(lambda: queue.exists(lost) == 1, RECONCILE_INTERVAL_S + 5)
    time.sleep(QUIET_PASSES * RECONCILE_INTERVAL_S)

    print(
        f"reconcile: lost task restored in {took_s:.2f}s; "
        f"given up {_given_up(ctl_stack, 'reconcile'):.0f}"
    )
    assert sum(f"injected: repairing {poisoned.id} crashed" in line for line in _log(ctl)) == 1
    assert sum("Traceback" in line for line in _log(ctl)) == 1
    assert _status(client, poisoned.id) == "queued"
    assert _given_up(ctl_stack, "reconcile") == 1
