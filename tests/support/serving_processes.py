"""``ftapi engine`` and ``ftapi agent`` in child processes, for serving tests."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.services import free_port
from tests.support.stack import ChildServer, StackConfig

ENGINE_READY_TIMEOUT_S = 90.0
AGENT_READY_TIMEOUT_S = 30.0


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
        device: str = "cpu",
        extra_env: dict[str, str] | None = None,
        embedding_model: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.api_key = api_key
        options = [] if max_lora_rank is None else ["--max-lora-rank", str(max_lora_rank)]
        if embedding_model is not None:
            options += ["--embedding-model", str(embedding_model)]
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
                device,
                "--log-level",
                "warning",
                *options,
            ],
            {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "true", "OMP_NUM_THREADS": "1"}
            | ({} if api_key is None else {"VLLM_API_KEY": api_key})
            | (extra_env or {}),
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
        extra_options: list[str] | None = None,
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
                *(extra_options or []),
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

    def metrics(self) -> str:
        """The agent's ``GET /metrics`` (Prometheus text)."""
        response = httpx.get(
            f"{self.url}/metrics", headers={"authorization": f"Bearer {self.api_key}"}, timeout=5
        )
        response.raise_for_status()
        return response.text

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
