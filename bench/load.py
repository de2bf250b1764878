"""Load on a live stack: concurrent clients mixing reads and writes, against a hello-world ceiling.

Starts, on 127.0.0.1, a private Redis, the api under uvicorn (the test stack's production-like
flags: one process, no access log, warnings only; PostgreSQL when it answers on 5432, else
SQLite), a ctl worker and gpu workers running the deterministic test trainer (jobs finish in a
fraction of a second). Then, each phase with ``--clients`` concurrent httpx clients:

1. ``--repeats`` rounds of two phases, one after the other so that both meet the same machine
   noise: the ceiling, a bare Litestar hello-world endpoint (``bench/hello_world.py``, same
   flags, up all along); then reads: list files, list jobs, get job;
2. mixed: the reads plus job creation and small file uploads, for ``--duration`` seconds.

It prints req/s, p50/p99 latency and status counts per route, the median reads/ceiling ratio
over the rounds (target >= 0.5), and, once every job created has finished, how many terminal
events each job got (exactly one each: none lost, none duplicated). Per-key rate limits stay on
but far above the offered load, with the production default of token leases (a busy key makes
one Redis round trip per lease; ``--rate-limit-lease-s 0`` makes one per request);
``--no-rate-limit`` turns them off.

    python bench/load.py [--clients 200] [--duration 30] [--probe-duration 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_runner.demo_model import build_tiny_llama
from service.settings import AuthSettings, RateLimitSettings
from tests.support.jobs import TERMINAL, TINY_MODEL_ID, chat_jsonl
from tests.support.services import (
    RedisServer,
    create_database,
    drop_database,
    free_port,
    postgres_available,
)
from tests.support.stack import (
    REPO_ROOT,
    ApiServer,
    StackConfig,
    uvicorn_command,
    write_registry,
)

READS = {"list_files": 1, "list_jobs": 1, "get_job": 1}
MIXED = {"list_files": 30, "list_jobs": 30, "get_job": 30, "create_job": 3, "upload_file": 7}
TERMINAL_EVENT_PREFIXES = (
    "The job has successfully completed",
    "The job failed",
    "Fine-tuning job cancelled",
)
JOB_BODY = {
    "model": TINY_MODEL_ID,
    "method": {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 10}},
    },
}
UPLOAD_BODY = chat_jsonl(10)


@dataclass
class Project:
    """One tenant's key and the objects its clients read."""

    key: str
    training_file: str
    job_ids: list[str] = field(default_factory=list)


@dataclass
class Tally:
    """Latencies and outcomes per route."""

    latencies_s: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    created_jobs: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def record(self, route: str, outcome: str, seconds: float) -> None:
        self.latencies_s[route].append(seconds)
        self.statuses[route][outcome] += 1

    def total(self, routes: set[str] | None = None) -> int:
        return sum(len(v) for k, v in self.latencies_s.items() if routes is None or k in routes)

    def rate(self, routes: set[str] | None = None) -> float:
        return self.total(routes) / self.wall_s if self.wall_s else 0.0


class UvicornServer:
    """Any ASGI factory under uvicorn with the flags ``ApiServer`` uses."""

    def __init__(self, factory: str, log_path: Path) -> None:
        self.port = free_port()
        self._factory = factory
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> UvicornServer:
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                uvicorn_command(self._factory, self.port),
                env=os.environ | {"PYTHONPATH": str(REPO_ROOT)},
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/hello").status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"{self._factory} did not start: {self._log_path.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __exit__(self, *_: object) -> None:
        assert self._process is not None
        self._process.terminate()
        self._process.wait(timeout=15)


Action = Callable[[httpx.AsyncClient, Project, Tally], Awaitable[str]]


async def list_files(http: httpx.AsyncClient, project: Project, tally: Tally) -> str:
    response = await http.get("/files", params={"limit": 20}, headers=_auth(project))
    return str(response.status_code)


async def list_jobs(http: httpx.AsyncClient, project: Project, tally: Tally) -> str:
    response = await http.get("/fine_tuning/jobs", params={"limit": 20}, headers=_auth(project))
    return str(response.status_code)


async def get_job(http: httpx.AsyncClient, project: Project, tally: Tally) -> str:
    job_id = random.choice(project.job_ids)
    response = await http.get(f"/fine_tuning/jobs/{job_id}", headers=_auth(project))
    return str(response.status_code)


async def create_job(http: httpx.AsyncClient, project: Project, tally: Tally) -> str:
    body = JOB_BODY | {"training_file": project.training_file}
    response = await http.post("/fine_tuning/jobs", json=body, headers=_auth(project))
    if response.status_code == 200:
        job_id = str(response.json()["id"])
        project.job_ids.append(job_id)
        tally.created_jobs.append(job_id)
    return str(response.status_code)


async def upload_file(http: httpx.AsyncClient, project: Project, tally: Tally) -> str:
    response = await http.post(
        "/files",
        data={"purpose": "fine-tune"},
        files={"file": ("train.jsonl", UPLOAD_BODY)},
        headers=_auth(project),
    )
    return str(response.status_code)


async def hello(http: httpx.AsyncClient, project: Project, tally: Tally) -> str:
    response = await http.get("/hello")
    return str(response.status_code)


ACTIONS: dict[str, Action] = {
    "list_files": list_files,
    "list_jobs": list_jobs,
    "get_job": get_job,
    "create_job": create_job,
    "upload_file": upload_file,
    "hello": hello,
}


def _auth(project: Project) -> dict[str, str]:
    return {"Authorization": f"Bearer {project.key}"}


async def run_phase(
    base_url: str, projects: list[Project], mix: dict[str, int], clients: int, duration_s: float
) -> Tally:
    """``clients`` loops, each sending one request after another until the time is up.

    Each loop has a connection pool of its own: one pool of ``clients`` connections costs httpx
    milliseconds of CPU per request (it scans every connection), which would make the client,
    not the server, the bottleneck. One TLS context serves them all (each costs ~0.1 s to load).
    """
    tally = Tally()
    routes, weights = list(mix), list(mix.values())
    tls = ssl.create_default_context()
    async with contextlib.AsyncExitStack() as stack:
        pools = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, timeout=60, verify=tls)
            )
            for _ in range(clients)
        ]

        async def client(n: int) -> None:
            project = projects[n % len(projects)]
            rng = random.Random(n)
            while time.monotonic() < deadline:
                route = rng.choices(routes, weights)[0]
                started = time.perf_counter()
                try:
                    outcome = await ACTIONS[route](pools[n], project, tally)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                tally.record(route, outcome, time.perf_counter() - started)

        started = time.monotonic()
        deadline = started + duration_s
        await asyncio.gather(*(client(n) for n in range(clients)))
        tally.wall_s = time.monotonic() - started
    return tally


def report(title: str, tally: Tally, cpu: dict[str, float]) -> None:
    print(
        f"\n== {title}: {tally.total()} requests in {tally.wall_s:.1f} s = "
        f"{tally.rate():.0f} req/s; CPU " + ", ".join(f"{k} {v:.0%}" for k, v in cpu.items())
    )
    for name in cpu:
        if name not in ("client", "others"):
            print(f"{name} CPU per request: {server_cpu_ms_per_request(tally, cpu, name):.2f} ms")
    print(f"{'route':<12} {'count':>7} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for route in sorted(tally.latencies_s):
        latencies = sorted(tally.latencies_s[route])
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        print(
            f"{route:<12} {len(latencies):>7} {len(latencies) / tally.wall_s:>7.0f} "
            f"{statistics.median(latencies) * 1000:>8.1f} {p99 * 1000:>8.1f}  "
            f"{dict(tally.statuses[route])}"
        )


def measure(
    pids: dict[str, int], phase: Callable[[], Tally], profile_to: Path | None = None
) -> tuple[Tally, dict[str, float]]:
    """Run ``phase``; returns its tally and the share of one core each process used meanwhile.

    With ``profile_to``, py-spy samples the first process meanwhile (collapsed stacks).
    """
    processes = {name: psutil.Process(pid) for name, pid in pids.items()}
    processes["client"] = psutil.Process()
    spy = None
    if profile_to is not None:
        spy = subprocess.Popen(
            [
                *("py-spy", "record", "--format", "raw"),
                *("--pid", str(next(iter(pids.values()))), "--output", str(profile_to)),
                *("--rate", "250", "--nonblocking"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    before = {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}
    machine_before = _busy_s(psutil.cpu_times())
    tally = phase()
    after = {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}
    # Everything else on the machine: the database, Redis, the workers, the profiler.
    after["others"] = (
        _busy_s(psutil.cpu_times())
        - machine_before
        - sum(after[name] - before[name] for name in processes)
    )
    before["others"] = 0.0
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        spy.wait(timeout=60)
    return tally, {name: (after[name] - before[name]) / tally.wall_s for name in after}


def _busy_s(times: Any) -> float:
    """Seconds all CPUs spent on anything but waiting."""
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def server_cpu_ms_per_request(tally: Tally, cpu: dict[str, float], server: str) -> float:
    """CPU the server spent per request: what bounds its req/s once it has a core to itself."""
    return cpu[server] * tally.wall_s / max(1, tally.total()) * 1000


def seed(api: ApiServer, n_projects: int) -> list[Project]:
    """Projects with a processed training file and one job each."""
    projects = []
    with httpx.Client(base_url=api.base_url, timeout=60) as http:
        for n in range(n_projects):
            key = api.new_key(f"load-{n}")
            headers = {"Authorization": f"Bearer {key}"}
            uploaded = http.post(
                "/files",
                data={"purpose": "fine-tune"},
                files={"file": ("train.jsonl", UPLOAD_BODY)},
                headers=headers,
            ).json()
            projects.append(Project(key=key, training_file=uploaded["id"]))
        for project in projects:
            headers = _auth(project)
            while (
                http.get(f"/files/{project.training_file}", headers=headers).json()["status"]
                != "processed"
            ):
                time.sleep(0.1)
            body = JOB_BODY | {"training_file": project.training_file}
            created = http.post("/fine_tuning/jobs", json=body, headers=headers)
            created.raise_for_status()
            project.job_ids.append(str(created.json()["id"]))
    return projects


def check_jobs(api: ApiServer, projects: list[Project], timeout_s: float) -> None:
    """Wait for every job to finish, then count each job's terminal events."""
    jobs = [(project, job_id) for project in projects for job_id in project.job_ids]
    started = time.monotonic()
    statuses: dict[str, str] = {}
    with httpx.Client(base_url=api.base_url, timeout=60) as http:
        while time.monotonic() - started < timeout_s:
            for project, job_id in jobs:
                if statuses.get(job_id) not in TERMINAL:
                    response = http.get(f"/fine_tuning/jobs/{job_id}", headers=_auth(project))
                    statuses[job_id] = response.json()["status"]
            if all(status in TERMINAL for status in statuses.values()):
                break
            time.sleep(1)
        finished_s = time.monotonic() - started
        terminal_events = {
            job_id: _terminal_events(http, project, job_id) for project, job_id in jobs
        }
    outcomes = Counter(statuses.values())
    lost = [job_id for job_id, count in terminal_events.items() if count == 0]
    duplicated = [job_id for job_id, count in terminal_events.items() if count > 1]
    print(
        f"\n== jobs: {len(jobs)} ({sum(len(p.job_ids) for p in projects) - len(projects)} "
        f"created under load); all finished {finished_s:.1f} s after the load stopped"
    )
    print(f"statuses            : {dict(outcomes)}")
    print(
        f"terminal events     : exactly one for {len(jobs) - len(lost) - len(duplicated)}, "
        f"none for {len(lost)} {lost[:5]}, several for {len(duplicated)} {duplicated[:5]}"
    )


def _terminal_events(http: httpx.Client, project: Project, job_id: str) -> int:
    count, after = 0, None
    while True:
        params: dict[str, str | int] = {"limit": 100} | ({"after": after} if after else {})
        page = http.get(
            f"/fine_tuning/jobs/{job_id}/events", params=params, headers=_auth(project)
        ).json()
        count += sum(
            1 for event in page["data"] if event["message"].startswith(TERMINAL_EVENT_PREFIXES)
        )
        if not page["has_more"]:
            return count
        after = page["data"][-1]["id"]


def _profile_path(directory: Path | None, phase: str) -> Path | None:
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{phase}.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=30.0, help="Mixed phase, seconds.")
    parser.add_argument("--probe-duration", type=float, default=10.0, help="Ceiling and reads.")
    parser.add_argument(
        "--repeats", type=int, default=3, help="Rounds of ceiling then reads; medians reported."
    )
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--gpu-workers", type=int, default=2)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default=None)
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument(
        "--rate-limit-lease-s",
        type=float,
        default=None,
        help="FTAPI_RATE_LIMITS__LEASE_S for the api (default: the setting's default).",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="Directory for py-spy stacks of each server."
    )
    args = parser.parse_args()
    if args.profile is not None and shutil.which("py-spy") is None:
        parser.error("--profile samples the servers with py-spy: pip install py-spy")
    database = args.database or ("postgres" if postgres_available() else "sqlite")

    work = Path(tempfile.mkdtemp(prefix="ftapi-bench-load-"))
    redis_server = RedisServer(work / "redis")
    redis_server.start()
    database_url = asyncio.run(create_database()) if database == "postgres" else ""
    try:
        registry = work / "models.toml"
        write_registry(registry, {TINY_MODEL_ID: build_tiny_llama(work / "tiny")})
        limits = (
            {"FTAPI_RATE_LIMITS__ENABLED": "false"}
            if args.no_rate_limit
            else {
                "FTAPI_RATE_LIMITS__REQUESTS_PER_MINUTE": "10000000",
                "FTAPI_RATE_LIMITS__EXPENSIVE_PER_MINUTE": "10000000",
            }
            | (
                {}
                if args.rate_limit_lease_s is None
                else {"FTAPI_RATE_LIMITS__LEASE_S": str(args.rate_limit_lease_s)}
            )
        )
        config = StackConfig(
            data_dir=work / "data",
            redis_url=redis_server.new_database_url(),
            database_url=database_url,
            extra_env={
                "FTAPI_ENVIRONMENT": "production" if database_url else "development",
                "FTAPI_MODELS__REGISTRY_PATH": str(registry),
                "FTAPI_JOBS__MAX_ACTIVE_JOBS_PER_PROJECT": "100000",
                "FTAPI_JOBS__MAX_RUNNING_JOBS_PER_PROJECT": str(args.gpu_workers),
                "FTAPI_JOBS__RECONCILE_INTERVAL_S": "5",
                "FTAPI_TEST_TRAINER_STEP_S": "0.01",
                "FTAPI_LOG_LEVEL": "WARNING",
                # The test stack turns the key cache off (tests revoke keys); production has it.
                "FTAPI_AUTH__CACHE_TTL_S": str(AuthSettings().cache_ttl_s),
            }
            | limits,
        )
        lease_s = (
            RateLimitSettings().lease_s
            if args.rate_limit_lease_s is None
            else args.rate_limit_lease_s
        )
        leases = f"leases of up to {lease_s} s" if lease_s else "no leases"
        limited = f"on (10M/min: never reached; {leases})"
        print(
            f"clients {args.clients}, database {database}, gpu workers {args.gpu_workers}, "
            f"rate limits {'off' if args.no_rate_limit else limited}, "
            f"{os.cpu_count()} CPUs"
        )
        with (
            UvicornServer("bench.hello_world:hello_world_app", work / "hello.log") as ceiling,
            ApiServer(config, gpu_workers=args.gpu_workers) as api,
        ):
            projects = seed(api, args.projects)
            ratios, cpu_ratios = [], []
            for round_n in range(1, args.repeats + 1):
                # Ceiling and reads alternate, so that both see the same spell of machine noise.
                profile = args.profile if round_n == 1 else None
                hello_tally, hello_cpu = measure(
                    {"server": ceiling.pid},
                    lambda: asyncio.run(
                        run_phase(
                            f"http://127.0.0.1:{ceiling.port}",
                            [Project("", "")],
                            {"hello": 1},
                            args.clients,
                            args.probe_duration,
                        )
                    ),
                    _profile_path(profile, "hello"),
                )
                report(f"round {round_n}, ceiling: Litestar hello world", hello_tally, hello_cpu)
                reads, reads_cpu = measure(
                    {"api": api.pid},
                    lambda: asyncio.run(
                        run_phase(api.base_url, projects, READS, args.clients, args.probe_duration)
                    ),
                    _profile_path(profile, "reads"),
                )
                report(f"round {round_n}, reads", reads, reads_cpu)
                ratios.append(reads.rate() / hello_tally.rate())
                cpu_ratios.append(
                    server_cpu_ms_per_request(hello_tally, hello_cpu, "server")
                    / server_cpu_ms_per_request(reads, reads_cpu, "api")
                )
            mixed, cpu = measure(
                {"api": api.pid},
                lambda: asyncio.run(
                    run_phase(api.base_url, projects, MIXED, args.clients, args.duration)
                ),
            )
            report("mixed", mixed, cpu)
            print(
                f"\nreads / ceiling     : median {statistics.median(ratios):.2f} over "
                f"{len(ratios)} rounds ({', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.5)"
            )
            print(
                f"  server-bound      : median {statistics.median(cpu_ratios):.2f} (hello's server "
                "CPU per request over the api's: the ratio a server with a core of its own "
                "would reach, whatever the client's speed)"
            )
            check_jobs(api, projects, timeout_s=900)
    finally:
        redis_server.stop()
        if database_url:
            asyncio.run(drop_database(database_url))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
