"""One serving stack for the package (each test uses a fresh project): ``ftapi engine`` (the
tiny model, at most 2 adapters loaded), ``ftapi agent`` beside it, and the api pointing at the
agent; plus publishing adapters the way the runner does (``tests.support.serving``),
in-process."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from openai import OpenAI

from service.blobstore.directories import upload_directory
from service.blobstore.keys import checkpoint_prefix
from service.db.engine import create_engine, create_session_factory
from service.models.naming import checkpoint_model_name, fine_tuned_model_name
from service.settings import Settings
from service.wiring.resources import blob_store_from_settings
from tests.support.services import RedisServer
from tests.support.serving import (
    caller_of_key,
    insert_job_with_checkpoints,
    publish_fine_tuned_model,
    serving_running,
    write_tiny_lora,
)
from tests.support.serving_processes import AgentProcess, EngineProcess
from tests.support.stack import ApiServer, StackConfig, write_registry
from tests.support.tiny_model import TinyModels

BASE_MODEL_ID = "ftapi/tiny-chatml"
MAX_LOADED_ADAPTERS = 2
PARITY_ATOL = 1e-3
# Internal keys: the engine's (held by the agent) and the agent's (held by the api).
ENGINE_KEY = "engine-key-" + secrets.token_hex(8)
AGENT_KEY = "agent-key-" + secrets.token_hex(8)


@dataclass
class ServingStack:
    """The running processes and what tests need to drive them."""

    api: ApiServer
    engine: EngineProcess
    agent: AgentProcess
    model_dir: Path
    adapters_dir: Path
    root: Path
    _adapters: dict[int, Path] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.api.config.settings()

    def sdk(self, key: str) -> OpenAI:
        """The official SDK in strict mode, without retries (tests see every answer)."""
        return OpenAI(
            base_url=self.api.base_url,
            api_key=key,
            _strict_response_validation=True,
            max_retries=0,
        )

    def adapter(self, seed: int) -> Path:
        """A LoRA adapter for the tiny model whose noise comes from ``seed``."""
        if seed not in self._adapters:
            self._adapters[seed] = write_tiny_lora(
                self.model_dir, self.adapters_dir / f"seed-{seed}", seed=seed
            )
        return self._adapters[seed]

    def publish(self, key: str, *, seed: int, suffix: str = "tuned") -> str:
        """Publish an adapter as the runner does on success; returns the model id."""
        return asyncio.run(
            publish_fine_tuned_model(
                self.settings, key, self.adapter(seed), base_model=BASE_MODEL_ID, suffix=suffix
            )
        )

    def publish_checkpoint(self, key: str, *, seed: int, step: int) -> str:
        """Store a checkpoint (adapter in ``adapter/`` beside optimizer state) and its row."""
        return asyncio.run(self._publish_checkpoint(key, seed, step))

    async def _publish_checkpoint(self, key: str, seed: int, step: int) -> str:
        settings = self.settings
        caller = await caller_of_key(settings, key)
        job_id = "ftjob-" + secrets.token_hex(12)
        name = checkpoint_model_name(
            fine_tuned_model_name(BASE_MODEL_ID, caller.organization_slug, "ckpt", job_id), step
        )
        checkpoint = self.adapters_dir / f"checkpoint-{job_id}"
        adapter = checkpoint / "adapter"
        adapter.mkdir(parents=True)
        for path in self.adapter(seed).iterdir():
            (adapter / path.name).write_bytes(path.read_bytes())
        (checkpoint / "optimizer.safetensors").write_bytes(b"\0" * 4096)
        (checkpoint / "trainer_state.json").write_text(json.dumps({"step": step}))
        blobs = blob_store_from_settings(settings)
        try:
            await upload_directory(
                blobs, checkpoint_prefix(caller.project_id, job_id, 1, step), checkpoint
            )
        finally:
            await blobs.close()
        engine = create_engine(settings.database_url)
        try:
            async with create_session_factory(engine).begin() as session:
                await insert_job_with_checkpoints(
                    session,
                    caller,
                    job_id,
                    base_model=BASE_MODEL_ID,
                    checkpoints={step: name},
                    status="running",
                    seed=seed,
                )
        finally:
            await engine.dispose()
        return name


@pytest.fixture(scope="package")
def serving_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, tiny_models: TinyModels
) -> Iterator[ServingStack]:
    """Engine, agent and api, started together; stopped after the package's last test (one
    start instead of one per module: about 25 s each on a small CI machine)."""
    root = tmp_path_factory.mktemp("serving")
    model_dir = tiny_models.model_dir("chatml")
    registry = root / "models.toml"
    write_registry(registry, {BASE_MODEL_ID: model_dir})
    engine = EngineProcess(
        model_dir,
        BASE_MODEL_ID,
        root / "logs",
        max_loras=MAX_LOADED_ADAPTERS,
        max_cpu_loras=MAX_LOADED_ADAPTERS,
        api_key=ENGINE_KEY,
    )
    data_dir = root / "stack"
    agent_config = StackConfig(data_dir=data_dir, redis_url=redis_server.new_database_url())
    agent = AgentProcess(
        engine,
        agent_config,
        root / "agent-cache",
        max_cpu_loras=MAX_LOADED_ADAPTERS,
        api_key=AGENT_KEY,
        # Trainer and engine both run fp32 on the CPU here: they agree to ~1e-5, so a tolerance
        # far tighter than the bf16 default makes the parity tests sharp.
        extra_options=["--parity-logprob-atol", str(PARITY_ATOL)],
    )
    config = StackConfig(
        data_dir=data_dir,
        redis_url=agent_config.redis_url,
        extra_env={
            "FTAPI_MODELS__REGISTRY_PATH": str(registry),
            "FTAPI_SERVING__AGENT_URLS": json.dumps([agent.url]),
            "FTAPI_SERVING__AGENT_API_KEY": AGENT_KEY,
        },
    )
    api = ApiServer(config, ctl_worker=False)
    with serving_running(api, engine, agent):
        yield ServingStack(api, engine, agent, model_dir, root / "adapters", root)


@pytest.fixture
def project_key(serving_stack: ServingStack, request: pytest.FixtureRequest) -> str:
    """A key of a fresh project, so each test's models are its own."""
    return serving_stack.api.new_key(f"serving-{request.node.name}"[:120])
