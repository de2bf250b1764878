"""A running ftapi api for tests: real uvicorn in a child process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from cli.keys import create_key
from service.settings import Settings
from tests.support.services import free_port

READY_TIMEOUT_S = 30.0


def write_registry(path: Path, models: dict[str, Path], *, max_seq_length: int = 512) -> None:
    """A base-model registry TOML offering ``models`` (id -> model directory)."""
    entries = [
        f'[[models]]\nid = "{model_id}"\npath = "{model_dir}"\n'
        f"max_seq_length = {max_seq_length}\nmax_lora_rank = 64\n"
        for model_id, model_dir in models.items()
    ]
    path.write_text("\n".join(entries))


@dataclass(frozen=True)
class StackConfig:
    """Where an api under test keeps its state: database, blob store, Redis."""

    data_dir: Path
    redis_url: str
    database_url: str = ""  # empty: SQLite in data_dir
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        database = "postgres" if self.database_url.startswith("postgresql") else "sqlite"
        return f"{database}-{'s3' if self.s3_bucket else 'local'}"

    def env(self) -> dict[str, str]:
        """The FTAPI_* variables describing this stack."""
        env = {
            "FTAPI_DATA_DIR": str(self.data_dir),
            "FTAPI_REDIS__URL": self.redis_url,
            "FTAPI_DATABASE__URL": self.database_url,
            "FTAPI_LOG_LEVEL": "WARNING",
            # The per-key limiter stays on (its code path runs in every test) but far above
            # what any test sends; tests of the limiter itself lower these in extra_env.
            "FTAPI_RATE_LIMITS__REQUESTS_PER_MINUTE": "1000000",
            "FTAPI_RATE_LIMITS__EXPENSIVE_PER_MINUTE": "1000000",
            # Tests revoke keys and expect the very next request to be refused.
            "FTAPI_AUTH__CACHE_TTL_S": "0",
        }
        if self.s3_bucket:
            env |= {
                "FTAPI_STORAGE__BACKEND": "s3",
                "FTAPI_STORAGE__S3_BUCKET": self.s3_bucket,
                "FTAPI_STORAGE__S3_ENDPOINT_URL": self.s3_endpoint_url or "",
                "FTAPI_STORAGE__S3_PATH_STYLE": "true",
                "FTAPI_STORAGE__S3_ACCESS_KEY_ID": "testing",
                "FTAPI_STORAGE__S3_SECRET_ACCESS_KEY": "testing",
            }
        return env | self.extra_env

    def settings(self) -> Settings:
        """The same configuration as a ``Settings`` object (for in-process helpers)."""
        saved = dict(os.environ)
        try:
            os.environ.update(self.env())
            return Settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)


REPO_ROOT = Path(__file__).resolve().parents[2]


def uvicorn_command(factory: str, port: int) -> list[str]:
    """uvicorn serving an ASGI app factory on 127.0.0.1 as production runs it: one process, no
    access log, warnings only (bench/load.py serves its ceiling the same way)."""
    return [
        *(sys.executable, "-m", "uvicorn", factory, "--factory"),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--no-access-log", "--log-level", "warning"),
    ]


DETERMINISTIC_TRAINER = "tests.support.deterministic_trainer:DeterministicTrainer"


class ChildServer:
    """A ``python -m cli …`` server on 127.0.0.1, with its log in a file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_dir: Path,
        *,
        preload_dir: Path | None = None,
    ) -> None:
        self.name = name
        self._argv = argv
        self._env = env
        # A directory put first on PYTHONPATH: its sitecustomize.py runs before the process's
        # own code (how fault tests make chosen inputs raise inside a real worker).
        self._python_path = [*([] if preload_dir is None else [preload_dir]), REPO_ROOT]
        self.log_path = log_dir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Launch the process (returns at once)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = os.environ | self._env | {"PYTHONPATH": os.pathsep.join(map(str, self._python_path))}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "cli", *self._argv],
                env=env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, url: str, timeout_s: float) -> None:
        """Wait until ``url`` answers 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready in {timeout_s}s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def kill(self) -> None:
        """SIGKILL, as a crashed replica would go."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM (a graceful stop: deploys, scale-in), then SIGKILL after ``timeout_s``."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def log_tail(self, n_bytes: int = 4000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-n_bytes:].decode(errors="replace")


class WorkerProcess(ChildServer):
    """``ftapi worker --queue ctl|gpu`` in a child process (its own process group)."""

    def __init__(
        self,
        config: StackConfig,
        queue: str,
        extra_env: dict[str, str] | None = None,
        *,
        preload_dir: Path | None = None,
    ):
        self.config = config
        self.queue = queue
        super().__init__(
            f"worker-{queue}-{id(self)}",
            ["worker", "--queue", queue],
            config.env() | (extra_env or {}),
            config.data_dir,
            preload_dir=preload_dir,
        )


class ApiServer:
    """``uvicorn service.api.app:create_app`` on a free port, plus the workers it needs.

    A ctl worker runs beside the api by default (file validation needs it); ``gpu_workers``
    adds gpu workers running ``trainer`` (the deterministic test trainer by default).
    """

    def __init__(
        self,
        config: StackConfig,
        *,
        ctl_worker: bool = True,
        gpu_workers: int = 0,
        trainer: str = DETERMINISTIC_TRAINER,
    ) -> None:
        self.config = config
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = config.data_dir / f"api-{self.port}.log"
        gpu_env = {"FTAPI_TRAINER__IMPORT_PATH": trainer}
        self.workers = ([WorkerProcess(config, "ctl")] if ctl_worker else []) + [
            WorkerProcess(config, "gpu", gpu_env) for _ in range(gpu_workers)
        ]

    def add_gpu_worker(self, trainer: str = DETERMINISTIC_TRAINER) -> WorkerProcess:
        """Start one more gpu worker."""
        worker = WorkerProcess(self.config, "gpu", {"FTAPI_TRAINER__IMPORT_PATH": trainer})
        worker.start()
        self.workers.append(worker)
        return worker

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL clients use."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def rss_bytes(self) -> int:
        """Resident memory of the server process now."""
        return int(psutil.Process(self.pid).memory_info().rss)

    def start(self) -> None:
        """Start the server and its workers; wait until /readyz says every dependency answers."""
        self.start_without_waiting()
        self._wait_for("/readyz")
        for worker in self.workers:
            worker.start()

    def wait_until_serving(self) -> None:
        """Wait until the process answers HTTP at all (/healthz), ready or not."""
        self._wait_for("/healthz")

    def start_without_waiting(self) -> None:
        """Launch the process and return at once."""
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                uvicorn_command("service.api.app:create_app", self.port),
                env=os.environ | self.config.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _wait_for(self, path: str) -> None:
        assert self._process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"api exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.root_url}{path}", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"api not ready in {READY_TIMEOUT_S}s:\n{self.log_tail()}")

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop(timeout_s=15)
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def log_tail(self, n_bytes: int = 4000) -> str:
        if not self._log_path.exists():
            return ""
        return self._log_path.read_bytes()[-n_bytes:].decode(errors="replace")

    def new_key(self, project: str) -> str:
        """A fresh API key for ``project`` (created if new) in this stack's database."""
        return asyncio.run(create_key(self.config.settings(), project))

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
