"""A zombie runner with real processes: a gpu worker is SIGSTOPped after training, before it
publishes, for longer than the stale-heartbeat limit. The reconciler re-queues the job, another
gpu worker finishes it, and then the first worker is SIGCONTed and runs on. It publishes
nothing and overwrites nothing: the published adapter's bytes and manifest stay, there is one
model and one terminal event, and its own uploads are gone."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

from openai import OpenAI

from tests.support.jobs import (
    TINY_MODEL_ID,
    chat_jsonl,
    event_messages,
    stack_config,
    trainer_log,
    upload_training_file,
    wait_for,
)
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, WorkerProcess

END_PAUSE_S = 2.0  # between the trainer's `end` line and the publication: the stop lands here


def _wait_for_line(stack: ApiServer, prefix: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [line for line in trainer_log(stack) if line.startswith(prefix)]
        if lines:
            return lines[0]
        assert time.monotonic() < deadline, f"no {prefix!r} in {trainer_log(stack)}"
        time.sleep(0.02)


def _wait_for_log(worker: WorkerProcess, needle: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while needle not in worker.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{needle!r} not logged:\n{worker.log_tail()}"
        time.sleep(0.1)


def _models(data_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "ftapi.db") as db:
        return list(db.execute("SELECT id, blob_prefix FROM fine_tuned_models"))


def _pending(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "ftapi.db") as db:
        (count,) = db.execute("SELECT count(*) FROM pending_blobs").fetchone()
        return int(count)


def _files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_a_runner_that_lost_its_claim_publishes_nothing_and_overwrites_nothing(
    tmp_path: Path, redis_server: RedisServer, job_registry: Path
) -> None:
    config = stack_config(
        tmp_path,
        redis_server.new_database_url(),
        job_registry,
        FTAPI_TEST_TRAINER_STEP_S="0.02",
        FTAPI_TEST_TRAINER_END_PAUSE_S=str(END_PAUSE_S),
    )
    with ApiServer(config, gpu_workers=1) as stack:
        zombie = next(w for w in stack.workers if w.queue == "gpu")
        client = OpenAI(base_url=stack.base_url, api_key=stack.new_key("zombie"), max_retries=3)
        training = upload_training_file(client, chat_jsonl(10))
        job_id = client.fine_tuning.jobs.create(
            model=TINY_MODEL_ID,
            training_file=training,
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
        ).id

        _wait_for_line(stack, f"end {job_id} ")  # trained; now in the pause before publishing
        os.kill(zombie.pid, signal.SIGSTOP)
        try:
            assert client.fine_tuning.jobs.retrieve(job_id).status == "running"
            stack.add_gpu_worker()
            done = wait_for(client, job_id, timeout_s=60)
            assert done.status == "succeeded", done.error
            [(model, prefix)] = _models(tmp_path)
            assert model == done.fine_tuned_model
            published_root = tmp_path / "blobs" / prefix
            published = _files(published_root)
            manifest_sha256 = hashlib.sha256(published["manifest.json"]).hexdigest()
        finally:
            os.kill(zombie.pid, signal.SIGCONT)

        _wait_for_log(zombie, "lost its claim before publishing")

        assert _models(tmp_path) == [(model, prefix)]
        assert _files(published_root) == published
        assert hashlib.sha256(published["manifest.json"]).hexdigest() == manifest_sha256
        config_json = json.loads(published["adapter_config.json"])
        assert config_json["trained_by_pid"] != zombie.pid  # the second worker's adapter
        zombie_prefix = prefix.replace("/attempts/2/", "/attempts/1/")
        assert zombie_prefix != prefix
        assert _files(tmp_path / "blobs" / zombie_prefix) == {}  # its uploads are deleted
        assert _pending(tmp_path) == 0
        terminal = [
            m
            for m in event_messages(client, job_id)
            if "successfully completed" in m or "failed" in m or "cancelled" in m
        ]
        assert terminal == ["The job has successfully completed"]
        assert len(client.fine_tuning.jobs.retrieve(job_id).result_files) == 1
        client.close()
