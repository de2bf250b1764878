"""500 fine-tuning jobs created concurrently over HTTP, run by the deterministic test trainer.

Prints jobs/s accepted by ``POST /v1/fine_tuning/jobs``, the median and p99 time from create to
``running`` (from the job and event rows, microsecond timestamps), and checks that every job
reached ``succeeded`` exactly once (the trainer's log has one start per job).

    python bench/job_queue.py [--jobs 500] [--concurrency 50] [--gpu-workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_runner.demo_model import build_tiny_llama
from tests.support.jobs import TINY_MODEL_ID, chat_jsonl
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, StackConfig, write_registry


async def create_jobs(
    base_url: str, key: str, training_file: str, n_jobs: int, concurrency: int
) -> tuple[list[str], float]:
    """Create ``n_jobs`` jobs with ``concurrency`` requests in flight; returns ids and seconds."""
    headers = {"Authorization": f"Bearer {key}"}
    body = {
        "model": TINY_MODEL_ID,
        "training_file": training_file,
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 10}},
        },
    }
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=60
    ) as http:

        async def one() -> str:
            async with gate:
                response = await http.post("/fine_tuning/jobs", json=body)
                response.raise_for_status()
                return str(response.json()["id"])

        started = time.perf_counter()
        ids = await asyncio.gather(*(one() for _ in range(n_jobs)))
        return list(ids), time.perf_counter() - started


def wait_until_done(database: Path, ids: list[str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    with sqlite3.connect(database) as db:
        while True:
            rows = dict(db.execute("SELECT id, status FROM jobs").fetchall())
            statuses = {job_id: rows.get(job_id, "?") for job_id in ids}
            if all(s in ("succeeded", "failed", "cancelled") for s in statuses.values()):
                return statuses
            if time.monotonic() > deadline:
                return statuses
            time.sleep(1)


def create_to_running_s(database: Path) -> list[float]:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT j.created_us, MIN(e.created_us) FROM jobs j JOIN job_events e "
            "ON e.job_id = j.id AND e.message = 'Fine-tuning job started' GROUP BY j.id"
        ).fetchall()
    return sorted((started - created) / 1e6 for created, started in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--gpu-workers", type=int, default=4)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ftapi-bench-queue-"))
    redis_server = RedisServer(work / "redis")
    redis_server.start()
    try:
        registry = work / "models.toml"
        write_registry(registry, {TINY_MODEL_ID: build_tiny_llama(work / "tiny")})
        log = work / "trainer.log"
        config = StackConfig(
            data_dir=work / "data",
            redis_url=redis_server.new_database_url(),
            extra_env={
                "FTAPI_MODELS__REGISTRY_PATH": str(registry),
                "FTAPI_JOBS__MAX_ACTIVE_JOBS_PER_PROJECT": str(args.jobs * 2),
                "FTAPI_JOBS__MAX_RUNNING_JOBS_PER_PROJECT": str(args.gpu_workers),
                "FTAPI_JOBS__RECONCILE_INTERVAL_S": "5",
                "FTAPI_TEST_TRAINER_STEP_S": "0.01",
                "FTAPI_TEST_TRAINER_LOG": str(log),
                "FTAPI_LOG_LEVEL": "WARNING",
            },
        )
        with ApiServer(config, gpu_workers=args.gpu_workers) as api:
            key = api.new_key("bench")
            upload = httpx.post(
                f"{api.base_url}/files",
                headers={"Authorization": f"Bearer {key}"},
                data={"purpose": "fine-tune"},
                files={"file": ("train.jsonl", chat_jsonl(10))},
                timeout=30,
            )
            file_id = upload.json()["id"]
            while (
                httpx.get(
                    f"{api.base_url}/files/{file_id}", headers={"Authorization": f"Bearer {key}"}
                ).json()["status"]
                != "processed"
            ):
                time.sleep(0.1)
            started = time.perf_counter()
            ids, create_s = asyncio.run(
                create_jobs(api.base_url, key, file_id, args.jobs, args.concurrency)
            )
            statuses = wait_until_done(config.data_dir / "ftapi.db", ids, timeout_s=900)
            total_s = time.perf_counter() - started
            latencies = create_to_running_s(config.data_dir / "ftapi.db")
        starts = Counter(
            line.split()[1] for line in log.read_text().splitlines() if line.startswith("start ")
        )
        outcome = Counter(statuses.values())
        duplicates = sum(1 for job_id in ids if starts[job_id] > 1)
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        print(f"jobs: {args.jobs}, concurrency {args.concurrency}, gpu workers {args.gpu_workers}")
        print(
            f"accepted            : {args.jobs / create_s:8.1f} jobs/s ({create_s:.1f} s for all)"
        )
        print(f"create -> running   : median {statistics.median(latencies):.2f} s, p99 {p99:.2f} s")
        print(f"all done in         : {total_s:.1f} s")
        print(f"outcome             : {json.dumps(dict(outcome))}")
        print(f"succeeded           : {outcome['succeeded']}/{args.jobs}")
        print(f"duplicate runs      : {duplicates}")
    finally:
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
