"""One live stack for the CLI tests, and the ``ftapi`` command run as users run it.

The api with a ctl worker and a gpu worker (the deterministic test trainer, reporting an in-job
evaluation for a job with a validation file), plus the local
engine serving the tiny model and its adapter agent, so ``ftapi chat`` has something to talk to.
Direct file uploads are capped at ``MAX_FILE_BYTES``, which only the Uploads API can go past.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.jobs import TINY_MODEL_ID, stack_config
from tests.support.services import RedisServer
from tests.support.serving import serving_running
from tests.support.serving_processes import AgentProcess, EngineProcess
from tests.support.stack import REPO_ROOT, ApiServer
from tests.support.tiny_model import TinyModels

MAX_FILE_BYTES = 64 * 1024
CLI_TIMEOUT_S = 120
ENGINE_KEY = "engine-key-" + secrets.token_hex(8)
AGENT_KEY = "agent-key-" + secrets.token_hex(8)


@dataclass(frozen=True)
class CliStack:
    api: ApiServer
    registry: Path


@pytest.fixture(scope="package")
def cli_stack(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    job_registry: Path,
    tiny_models: TinyModels,
) -> Iterator[CliStack]:
    """Api, ctl worker, gpu worker, engine and agent, shared by the package's modules."""
    root = tmp_path_factory.mktemp("cli")
    redis_url = redis_server.new_database_url()
    engine = EngineProcess(
        tiny_models.model_dir("chatml"),
        TINY_MODEL_ID,
        root / "logs",
        max_loras=1,
        max_cpu_loras=1,
        api_key=ENGINE_KEY,
    )
    agent = AgentProcess(
        engine,
        stack_config(root / "stack", redis_url, job_registry),
        root / "agent-cache",
        max_cpu_loras=1,
        api_key=AGENT_KEY,
    )
    config = stack_config(
        root / "stack",
        redis_url,
        job_registry,
        FTAPI_LIMITS__MAX_FILE_BYTES=str(MAX_FILE_BYTES),
        FTAPI_SERVING__AGENT_URLS=json.dumps([agent.url]),
        FTAPI_SERVING__AGENT_API_KEY=AGENT_KEY,
        FTAPI_TEST_TRAINER_EVAL="1",  # a job with a validation file reports an in-job eval
    )
    api = ApiServer(config, gpu_workers=1)
    with serving_running(api, engine, agent):
        yield CliStack(api, job_registry)


@dataclass(frozen=True)
class Ftapi:
    """``python -m cli`` pointed at the stack with one project's key."""

    base_url: str
    api_key: str
    registry: Path

    def env(self) -> dict[str, str]:
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("FTAPI_", "OPENAI_"))
        }
        return inherited | {
            "PYTHONPATH": str(REPO_ROOT),
            "FTAPI_BASE_URL": self.base_url,
            "FTAPI_API_KEY": self.api_key,
            "FTAPI_MODELS__REGISTRY_PATH": str(self.registry),
            "COLUMNS": "200",
        }

    def __call__(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env or self.env(),
            cwd=REPO_ROOT,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )


@pytest.fixture
def ftapi(cli_stack: CliStack, request: pytest.FixtureRequest) -> Ftapi:
    """The CLI with a key of a fresh project, so each test sees only its own objects."""
    key = cli_stack.api.new_key(f"cli-{request.node.name}"[:120])
    return Ftapi(cli_stack.api.base_url, key, cli_stack.registry)
