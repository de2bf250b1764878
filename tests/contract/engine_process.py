"""``ftapi engine`` in a child process on a free port, for the contract suite."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.services import free_port
from tests.support.stack import REPO_ROOT

READY_TIMEOUT_S = 60.0


class EngineProcess:
    """The local engine serving ``model_dir`` as ``served_model_name``."""

    def __init__(self, model_dir: Path, log_path: Path, *, served_model_name: str, args: list[str]):
        self.port = free_port()
        self.served_model_name = served_model_name
        self._command = [
            sys.executable,
            "-m",
            "service.cli",
            "engine",
            "--model",
            str(model_dir),
            "--served-model-name",
            served_model_name,
            "--port",
            str(self.port),
            "--device",
            "cpu",
            "--log-level",
            "warning",
            *args,
        ]
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's root URL (routes are ``/health``, ``/v1/...``)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the engine and wait until ``/health`` answers (the model is loaded by then)."""
        env = os.environ | {"PYTHONPATH": str(REPO_ROOT), "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "1"}
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command,
                env=env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"ftapi engine exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ftapi engine not healthy after {READY_TIMEOUT_S}s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM, then SIGKILL if it does not exit."""
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
        """The end of the engine's log."""
        if not self._log_path.exists():
            return ""
        return self._log_path.read_bytes()[-n_bytes:].decode(errors="replace")
