"""One live stack per module for the console tests, and one headless Chromium signed in to it.

The stack is real end to end: the api (serving ``/console``), a ctl worker, a gpu worker running
``LoraTrainer`` on the tiny ChatML model (its metrics relayed at a steady pace, so that they reach
the charts over seconds however fast the machine is: see ``paced_trainer``), and
``ftapi engine`` + ``ftapi agent`` so that the model a job publishes answers in the playground.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openai import OpenAI
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.browser import MISSING, chromium_available, start_chromium, stop_chromium
from tests.support.jobs import TINY_MODEL_ID, stack_config
from tests.support.services import RedisServer
from tests.support.serving import serving_running
from tests.support.serving_processes import AgentProcess, EngineProcess
from tests.support.skips import skip_loudly
from tests.support.stack import ApiServer, StackConfig, write_registry
from tests.support.tiny_model import TinyModels

PACED_LORA_TRAINER = "tests.browser.paced_trainer:PacedLoraTrainer"
MAX_SEQ_LENGTH = 96  # small enough that a long example is truncated (a report warning)
ENGINE_KEY = "engine-key-" + secrets.token_hex(8)
AGENT_KEY = "agent-key-" + secrets.token_hex(8)
ARTIFACTS_DIR = (
    Path(os.environ["FTAPI_TEST_ARTIFACTS"]) / "browser"
    if os.environ.get("FTAPI_TEST_ARTIFACTS")
    else Path(__file__).parent / "artifacts"
)


@dataclass
class ConsoleStack:
    """The running stack, a project key, and an SDK client on that key."""

    api: ApiServer
    key: str
    sdk: OpenAI

    @property
    def console_url(self) -> str:
        return f"{self.api.root_url}/console/"


@pytest.fixture(scope="module")
def console_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, tiny_models: TinyModels
) -> Iterator[ConsoleStack]:
    """api + ctl + gpu (LoRA) workers + engine + agent, started together."""
    if not chromium_available():
        skip_loudly(MISSING)
    root = tmp_path_factory.mktemp("console")
    model_dir = tiny_models.model_dir("chatml")
    registry = root / "models.toml"
    write_registry(registry, {TINY_MODEL_ID: model_dir}, max_seq_length=MAX_SEQ_LENGTH)
    engine = EngineProcess(
        model_dir, TINY_MODEL_ID, root / "logs", max_loras=2, max_cpu_loras=2, api_key=ENGINE_KEY
    )
    data_dir = root / "data"
    redis_url = redis_server.new_database_url()
    agent = AgentProcess(
        engine,
        StackConfig(data_dir=data_dir, redis_url=redis_url),
        root / "agent-cache",
        max_cpu_loras=2,
        api_key=AGENT_KEY,
    )
    config = stack_config(
        data_dir,
        redis_url,
        registry,
        FTAPI_SERVING__AGENT_URLS=json.dumps([agent.url]),
        FTAPI_SERVING__AGENT_API_KEY=AGENT_KEY,
        FTAPI_LORA_DEVICE="cpu",
        FTAPI_LORA_PACKING="false",  # one example per row: the steps are the batches
        FTAPI_LORA_EVAL_EVERY_STEPS="4",
    )
    api = ApiServer(config, gpu_workers=1, trainer=PACED_LORA_TRAINER)
    with serving_running(api, engine, agent):
        key = api.new_key("console")
        with OpenAI(
            base_url=api.base_url, api_key=key, _strict_response_validation=True, max_retries=0
        ) as sdk:
            yield ConsoleStack(api, key, sdk)


@pytest.fixture(scope="module")
def browser(
    console_stack: ConsoleStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebDriver]:
    """A headless Chromium at 1280 px with a fresh profile, for the whole module."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    driver = start_chromium(profile)
    try:
        yield driver
    finally:
        stop_chromium(driver, profile)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """Where screenshots go (``$FTAPI_TEST_ARTIFACTS/browser`` or ``tests/browser/artifacts``)."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR
