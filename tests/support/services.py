"""Real backing services for tests: Redis and PostgreSQL, found or started, never faked."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class RedisServer:
    """A private redis-server on a free port, with many databases so each stack gets its own.

    Tests own it, so they can also stop and restart it (fault tests).
    """

    DATABASES = 256

    def __init__(self, data_dir: Path, *, persistent: bool = False) -> None:
        self.port = free_port()
        self._data_dir = data_dir
        self._persistent = persistent  # AOF, fsync on every write: a restart loses nothing
        self._process: subprocess.Popen[bytes] | None = None
        self._next_db = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def new_database_url(self) -> str:
        """The URL of a database no other stack of this session uses."""
        self._next_db += 1
        if self._next_db >= self.DATABASES:
            raise RuntimeError("out of Redis databases for this test session")
        return f"redis://127.0.0.1:{self.port}/{self._next_db}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [
                binary,
                "--databases",
                str(self.DATABASES),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self._persistent else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self._data_dir),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def restart(self) -> None:
        """Stop and start again on the same port (without persistence, data is gone)."""
        self.stop()
        self.start()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


def postgres_available() -> bool:
    """Whether PostgreSQL answers on 127.0.0.1:5432."""
    return port_open("127.0.0.1", 5432)


async def create_database() -> str:
    """A fresh, empty PostgreSQL database; returns its SQLAlchemy asyncpg URL."""
    name = f"ftapi_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_database(url: str) -> None:
    """Drop a database made by ``create_database`` (connections are terminated first)."""
    name = url.rsplit("/", 1)[-1]
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def postgres_binaries() -> Path | None:
    """The directory holding initdb/pg_ctl of the newest installed PostgreSQL, if any."""
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(on_path).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


class PostgresServer:
    """A private PostgreSQL cluster (initdb in a temp dir, trust auth) that a test may restart.

    PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres``
    user and its commands run through ``runuser``.
    """

    def __init__(self, binaries: Path) -> None:
        self.port = free_port()
        self._binaries = binaries
        # Not under pytest's tmp_path: the postgres user must be able to reach the directory.
        self._root = Path(tempfile.mkdtemp(prefix="ftapi-pg-"))
        self._data = self._root / "data"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self._root, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self._run("initdb", "-D", str(self._data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self._data),
            "-o",
            options,
            "-w",
            "-l",
            str(self._root / "log"),
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self._binaries / tool), *args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self._root, timeout=60)
