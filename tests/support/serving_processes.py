"""``ftapi engine`` and ``ftapi agent`` in child processes, for serving tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.services import free_port
from tests.support.stack import REPO_ROOT, StackConfig

ENGINE_READY_TIMEOUT_S = 90.0
AGENT_READY_TIMEOUT_S = 30.0


class ChildServer:
    """A ``python -m service.cli …`` server on 127.0.0.1, with its log in a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self._argv = argv
        self._env = env
        self.log_path = log_dir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Launch the process (returns at once)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = os.environ | self._env | {"PYTHONPATH": str(REPO_ROOT)}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", *self._argv],
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

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period."""
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
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-n_bytes:].decode(errors="replace")


class EngineProcess(ChildServer):
    """``ftapi engine`` serving ``model_dir`` as ``served_name``."""

    def __init__(
        self,
        model_dir: Path,
        served_name: str,
        log_dir: Path,
        *,
        max_loras: int,
        max_cpu_loras: int,
        api_key: str | None = None,
        max_lora_rank: int | None = None,
    ) -> None:
        self.port = free_port()
        self.api_key = api_key
        rank = [] if max_lora_rank is None else ["--max-lora-rank", str(max_lora_rank)]
        super().__init__(
            f"engine-{self.port}",
            [
                "engine",
                "--model",
                str(model_dir),
                "--served-model-name",
                served_name,
                "--port",
                str(self.port),
                "--max-loras",
                str(max_loras),
                "--max-cpu-loras",
                str(max_cpu_loras),
                "--device",
                "cpu",
                "--log-level",
                "warning",
                *rank,
            ],
            {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "true", "OMP_NUM_THREADS": "1"}
            | ({} if api_key is None else {"VLLM_API_KEY": api_key}),
            log_dir,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self) -> None:
        """Wait until the model is loaded."""
        self.wait_ready(f"{self.url}/health", ENGINE_READY_TIMEOUT_S)

    def model_ids(self) -> list[str]:
        """The ids of the engine's ``GET /v1/models`` (the base, then loaded adapters)."""
        headers = {} if self.api_key is None else {"authorization": f"Bearer {self.api_key}"}
        response = httpx.get(f"{self.url}/v1/models", headers=headers, timeout=5)
        response.raise_for_status()
        return [card["id"] for card in response.json()["data"]]


class AgentProcess(ChildServer):
    """``ftapi agent`` beside ``engine``, reading the stack's blob store."""

    def __init__(
        self,
        engine: EngineProcess,
        config: StackConfig,
        cache_dir: Path,
        *,
        max_cpu_loras: int,
        api_key: str,
    ) -> None:
        self.port = free_port()
        self.api_key = api_key
        super().__init__(
            f"agent-{self.port}",
            [
                "agent",
                "--engine-url",
                engine.url,
                "--port",
                str(self.port),
                "--cache-dir",
                str(cache_dir),
                "--max-cpu-loras",
                str(max_cpu_loras),
            ],
            config.env() | {"FTAPI_AGENT_API_KEY": api_key, "FTAPI_ENGINE_API_KEY": engine.api_key},
            config.data_dir,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self) -> None:
        """Wait until the agent answers."""
        self.wait_ready(f"{self.url}/health", AGENT_READY_TIMEOUT_S)

    def state(self) -> dict[str, object]:
        """The agent's ``GET /agent/state``."""
        response = httpx.get(
            f"{self.url}/agent/state",
            headers={"authorization": f"Bearer {self.api_key}"},
            timeout=5,
        )
        response.raise_for_status()
        answer: dict[str, object] = response.json()
        return answer
