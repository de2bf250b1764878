"""Where the contract suite runs: a local ``ftapi engine`` by default, or any vLLM by env vars.

Local (CI): the tiny ChatML model served by ``ftapi engine --max-loras 2 --max-cpu-loras 2
--max-lora-rank 16`` in a child process. Remote: set ``FTAPI_CONTRACT_ENGINE_URL`` (see README).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.contract.adapters import AdapterDir, AdapterFactory
from tests.support.serving_processes import EngineProcess
from tests.support.tiny_model import TinyModels

ENGINE_URL_ENV = "FTAPI_CONTRACT_ENGINE_URL"
MODEL_DIR_ENV = "FTAPI_CONTRACT_MODEL_DIR"
ADAPTER_DIR_ENV = "FTAPI_CONTRACT_ADAPTER_DIR"
SERVER_ADAPTER_DIR_ENV = "FTAPI_CONTRACT_SERVER_ADAPTER_DIR"
API_KEY_ENV = "FTAPI_CONTRACT_API_KEY"
MAX_LORA_RANK_ENV = "FTAPI_CONTRACT_MAX_LORA_RANK"

LOCAL_BASE_NAME = "contract-base"
LOCAL_MAX_LORAS = 2
LOCAL_MAX_LORA_RANK = 16


@dataclass(frozen=True)
class ContractTarget:
    """The server under test and what the suite needs to know about it."""

    url: str  # root URL, without /v1
    base_model: str  # the base model's id in /v1/models
    model_dir: Path  # the base model's files, to build adapters for it
    adapter_dir: Path  # where adapters are written (readable by the server)
    server_adapter_dir: str | None  # adapter_dir as the server sees it, if it differs
    api_key: str | None
    max_lora_rank: int
    is_local: bool


@pytest.fixture(scope="session")
def contract_target(
    tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ContractTarget]:
    """The local engine (started here) or the remote server named by the environment."""
    url = os.environ.get(ENGINE_URL_ENV)
    if url:
        yield _remote_target(url.rstrip("/"))
        return
    model_dir = tiny_models.model_dir("chatml")
    work_dir = tmp_path_factory.mktemp("contract")
    engine = EngineProcess(
        model_dir,
        LOCAL_BASE_NAME,
        work_dir,
        max_loras=LOCAL_MAX_LORAS,
        max_cpu_loras=LOCAL_MAX_LORAS,
        max_lora_rank=LOCAL_MAX_LORA_RANK,
    )
    engine.start()
    engine.wait()
    try:
        yield ContractTarget(
            url=engine.url,
            base_model=LOCAL_BASE_NAME,
            model_dir=model_dir,
            adapter_dir=work_dir / "adapters",
            server_adapter_dir=None,
            api_key=None,
            max_lora_rank=LOCAL_MAX_LORA_RANK,
            is_local=True,
        )
    finally:
        engine.stop()


def _remote_target(url: str) -> ContractTarget:
    missing = [name for name in (MODEL_DIR_ENV, ADAPTER_DIR_ENV) if not os.environ.get(name)]
    if missing:
        pytest.fail(f"{ENGINE_URL_ENV} is set, so {' and '.join(missing)} must be too (README)")
    api_key = os.environ.get(API_KEY_ENV) or None
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    cards = httpx.get(f"{url}/v1/models", headers=headers, timeout=30).json()["data"]
    base = next(card["id"] for card in cards if card.get("parent") is None)
    return ContractTarget(
        url=url,
        base_model=base,
        model_dir=Path(os.environ[MODEL_DIR_ENV]),
        adapter_dir=Path(os.environ[ADAPTER_DIR_ENV]),
        server_adapter_dir=os.environ.get(SERVER_ADAPTER_DIR_ENV) or None,
        api_key=api_key,
        max_lora_rank=int(os.environ.get(MAX_LORA_RANK_ENV, "16")),
        is_local=False,
    )


@pytest.fixture
def engine_http(contract_target: ContractTarget) -> Iterator[httpx.Client]:
    """Raw HTTP to the server's root URL."""
    key = contract_target.api_key
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=contract_target.url, headers=headers, timeout=120) as client:
        yield client


@pytest.fixture
def sdk(contract_target: ContractTarget) -> Iterator[OpenAI]:
    """The official SDK in strict response-validation mode, pointed at the server's ``/v1``."""
    with OpenAI(
        base_url=f"{contract_target.url}/v1",
        api_key=contract_target.api_key or "EMPTY",
        _strict_response_validation=True,
        max_retries=0,
        timeout=120,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def adapter_factory(contract_target: ContractTarget) -> AdapterFactory:
    """Builds adapters for the served base model where the server can read them."""
    contract_target.adapter_dir.mkdir(parents=True, exist_ok=True)
    return AdapterFactory(
        contract_target.model_dir, contract_target.adapter_dir, contract_target.server_adapter_dir
    )


@pytest.fixture(scope="session")
def adapter_by_seed(adapter_factory: AdapterFactory) -> Callable[[int], AdapterDir]:
    """A plain rank-8 adapter per seed, each written once per session."""
    made: dict[int, AdapterDir] = {}

    def get(seed: int) -> AdapterDir:
        if seed not in made:
            made[seed] = adapter_factory.make(seed=seed)
        return made[seed]

    return get


LoadAdapter = Callable[[AdapterDir], str]


@pytest.fixture
def load_adapter(engine_http: httpx.Client) -> Iterator[LoadAdapter]:
    """Load an adapter under a fresh name and return the name; unloaded after the test."""
    names: list[str] = []

    def load(adapter: AdapterDir) -> str:
        name = f"contract-{uuid.uuid4().hex[:10]}"
        response = engine_http.post(
            "/v1/load_lora_adapter", json={"lora_name": name, "lora_path": adapter.server_path}
        )
        assert response.status_code == 200, response.text
        names.append(name)
        return name

    yield load
    for name in names:
        response = engine_http.post("/v1/unload_lora_adapter", json={"lora_name": name})
        assert response.status_code in (200, 404), response.text
