"""Each worker process writes its own arq health key, and ``--check`` reads its own: a stopped
worker fails its probe while another worker of the same queue passes.

Real Redis, real ``ftapi worker`` processes; a worker is frozen with SIGSTOP, as a hung process
would be. Its key expires at most ``HEALTH_CHECK_INTERVAL_S + 1`` seconds after its last write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from service.queue.arq_worker import HEALTH_CHECK_INTERVAL_S
from tests.support.services import RedisServer
from tests.support.stack import REPO_ROOT, StackConfig, WorkerProcess

START_TIMEOUT_S = 60.0
KEY_TTL_S = HEALTH_CHECK_INTERVAL_S + 1


def check(config: StackConfig, worker_id: str | None) -> subprocess.CompletedProcess[str]:
    """``ftapi worker --queue ctl --check`` as a liveness probe runs it."""
    argv = [sys.executable, "-m", "cli", "worker", "--queue", "ctl", "--check"]
    env = os.environ | config.env()
    env.pop("FTAPI_WORKER_ID", None)
    if worker_id is not None:
        argv += ["--worker-id", worker_id]
    return subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)


def wait_for_check(
    config: StackConfig, worker_id: str, *, passing: bool, timeout_s: float
) -> float:
    """Seconds until the probe of ``worker_id`` passes (or fails)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if (check(config, worker_id).returncode == 0) is passing:
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"probe of {worker_id} never {'passed' if passing else 'failed'}")


@pytest.fixture(scope="module")
def two_ctl_workers(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StackConfig, list[WorkerProcess]]]:
    """Workers "a" and "b" of the ctl queue, both alive (tests leave them so)."""
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("workers"), redis_url=redis_server.new_database_url()
    )
    workers = [WorkerProcess(config, "ctl", {"FTAPI_WORKER_ID": name}) for name in ("a", "b")]
    try:
        for worker, name in zip(workers, ("a", "b"), strict=True):
            worker.start()  # one at a time: both migrate the same SQLite file on start
            wait_for_check(config, name, passing=True, timeout_s=START_TIMEOUT_S)
        yield config, workers
    finally:
        for worker in workers:
            if worker.alive():
                os.kill(worker.pid, signal.SIGCONT)
            worker.stop()


def test_a_stopped_worker_fails_its_probe_while_its_sibling_passes(
    two_ctl_workers: tuple[StackConfig, list[WorkerProcess]],
) -> None:
    config, (worker_a, _worker_b) = two_ctl_workers
    passing = check(config, "a")
    assert passing.returncode == 0, passing.stderr
    assert "j_complete=" in passing.stdout  # arq's health line

    os.kill(worker_a.pid, signal.SIGSTOP)
    failed_after_s = wait_for_check(config, "a", passing=False, timeout_s=KEY_TTL_S + 10)
    assert failed_after_s <= KEY_TTL_S + 5  # + the probe's own start-up time

    failing = check(config, "a")
    assert failing.returncode == 1
    assert "ftapi:ctl:health-check:a" in failing.stderr
    assert check(config, "b").returncode == 0

    os.kill(worker_a.pid, signal.SIGCONT)
    wait_for_check(config, "a", passing=True, timeout_s=KEY_TTL_S + 10)


def test_without_an_id_the_probe_reads_the_host_names_key(
    two_ctl_workers: tuple[StackConfig, list[WorkerProcess]],
) -> None:
    config, _ = two_ctl_workers
    probe = check(config, None)
    assert probe.returncode == 1  # the workers run as "a" and "b", not as this host
    assert f"ftapi:ctl:health-check:{os.uname().nodename}" in probe.stderr
