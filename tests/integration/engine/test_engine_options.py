"""``ftapi engine`` options beyond the contract suite, on the app in-process with the tiny model:
``--api-key``, runtime LoRA updating switched off, and vLLM's filesystem resolver.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from gpu_runner.engine.config import EngineConfig, EngineDevice
from gpu_runner.engine.engine import Engine
from gpu_runner.engine.http import create_app
from tests.contract.adapters import AdapterFactory
from tests.support.tiny_model import TinyModels

CHAT: dict[str, Any] = {
    "messages": [{"role": "user", "content": "Hello"}],
    "temperature": 0,
    "max_tokens": 4,
}


@pytest.fixture(scope="module")
def model_dir(tiny_models: TinyModels) -> Path:
    return tiny_models.model_dir("chatml")


@pytest.fixture(scope="module")
def adapters(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> AdapterFactory:
    return AdapterFactory(model_dir, tmp_path_factory.mktemp("adapters"))


@contextmanager
def serve(model_dir: Path, **options: Any) -> Iterator[TestClient[Any]]:
    config = EngineConfig(
        model=str(model_dir), served_model_name="base", device=EngineDevice.CPU, **options
    )
    with TestClient(create_app(Engine.load(config))) as client:
        yield client


def test_an_api_key_guards_every_v1_route_but_not_health(model_dir: Path) -> None:
    with serve(model_dir, api_key="sk-engine") as client:
        refused = client.get("/v1/models")
        assert refused.status_code == 401
        assert refused.json() == {"error": "Unauthorized"}
        wrong = client.post("/v1/chat/completions", json=CHAT, headers=bearer("sk-other"))
        assert wrong.status_code == 401
        assert client.get("/health").status_code == 200
        assert client.get("/v1/models", headers=bearer("sk-engine")).status_code == 200
        answered = client.post("/v1/chat/completions", json=CHAT, headers=bearer("sk-engine"))
        assert answered.status_code == 200, answered.text


def test_without_runtime_updating_the_admin_routes_do_not_exist(model_dir: Path) -> None:
    with serve(model_dir, runtime_lora_updating=False) as client:
        response = client.post("/v1/load_lora_adapter", json={"lora_name": "x", "lora_path": "/x"})
        assert response.status_code == 404
        assert client.post("/v1/unload_lora_adapter", json={"lora_name": "x"}).status_code == 404


def test_the_filesystem_resolver_loads_an_unknown_name_from_the_cache_dir(
    model_dir: Path, adapters: AdapterFactory, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    adapter = adapters.make(seed=5)
    adapter.local_path.rename(cache_dir / "ft:cached")
    foreign = adapters.make(seed=6)
    config_path = foreign.local_path / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = "some/other-model"  # the resolver must skip it
    config_path.write_text(json.dumps(config))
    foreign.local_path.rename(cache_dir / "ft:foreign")
    with serve(model_dir, lora_resolver_cache_dir=cache_dir) as client:
        base = client.post("/v1/chat/completions", json=CHAT | {"model": "base"})
        found = client.post("/v1/chat/completions", json=CHAT | {"model": "ft:cached"})
        assert found.status_code == 200, found.text
        assert found.json()["model"] == "ft:cached"
        assert found.json()["choices"][0] != base.json()["choices"][0]
        cards = {card["id"]: card for card in client.get("/v1/models").json()["data"]}
        assert cards["ft:cached"]["parent"] == "base"
        assert cards["ft:cached"]["root"] == str(cache_dir / "ft:cached")
        missing = client.post("/v1/chat/completions", json=CHAT | {"model": "ft:foreign"})
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "The model `ft:foreign` does not exist."


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
