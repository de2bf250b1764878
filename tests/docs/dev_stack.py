"""``ftapi dev`` in a child process: a fresh data dir, three free ports (api, engine, agent),
the test session's Redis; stopped with SIGINT, as Ctrl-C would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.services import free_port, port_open
from tests.support.stack import REPO_ROOT

READY_TIMEOUT_S = 180.0  # a loaded CI machine: imports, migrations, the engine loading its model
_KEY_LINE = re.compile(r"API key \(shown once\): (\S+)")


def free_port_triple() -> int:
    """A port p with p, p+1 and p+2 free (``ftapi dev`` puts the engine and agent there)."""
    for _ in range(50):
        port = free_port()
        if port < 65000 and not any(port_open("127.0.0.1", port + i) for i in (1, 2)):
            return port
    raise RuntimeError("no three consecutive free ports")


class DevStack:
    """A running ``ftapi dev`` and what its banner printed."""

    def __init__(self, data_dir: Path, redis_url: str) -> None:
        self.port = free_port_triple()
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"ftapi-dev-{self.port}.log"
        self._env = {
            name: value for name, value in os.environ.items() if not name.startswith("FTAPI_")
        } | {
            "FTAPI_DATA_DIR": str(data_dir),
            "FTAPI_REDIS__URL": redis_url,
            "FTAPI_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO_ROOT),
        }
        self._process: subprocess.Popen[bytes] | None = None
        self.api_key = ""
        self.ready_after_s = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        """Run ``ftapi dev`` and wait for ``/readyz`` and its banner's key."""
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "cli", "dev", "--port", str(self.port)],
                env=self._env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"ftapi dev exited early:\n{self.log_tail()}")
            match = _KEY_LINE.search(self.log_path.read_text(errors="replace"))
            if match and self._ready():
                self.api_key = match.group(1)
                self.ready_after_s = time.monotonic() - started
                return
            time.sleep(0.2)
        raise RuntimeError(f"ftapi dev not ready in {READY_TIMEOUT_S}s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, timeout_s: float = 30) -> None:
        """Ctrl-C (SIGINT to the api, which stops its children), then SIGKILL the group."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._process = None

    def log_tail(self, n_bytes: int = 4000) -> str:
        text = self.log_path.read_bytes()[-n_bytes:].decode(errors="replace")
        logs = self.data_dir / "logs"
        for child_log in sorted(logs.glob("*.log")) if logs.exists() else []:
            text += f"\n--- {child_log.name}\n" + child_log.read_bytes()[-2000:].decode("replace")
        return text
