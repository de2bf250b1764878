"""The engine client follows vLLM's rules, against a transport answering as vLLM documents
(``shared/reference/vllm-lora.md`` §1.3): both error shapes, plain-text successes, idempotence."""

from __future__ import annotations

import json

import httpx
import pytest

from service.serving.agent.engine_client import EngineClient
from service.serving.engine_errors import parse_engine_error
from service.serving.errors import (
    AdapterFilesMissing,
    AdapterRejected,
    EngineUnavailable,
)

NESTED = {"error": {"message": "bad rank", "type": "BadRequestError", "param": None, "code": 400}}
FLAT = {"object": "error", "message": "bad rank", "type": "BadRequestError", "code": 400}


class VllmLike:
    """Just enough of vLLM's admin surface: a registry of names -> paths."""

    def __init__(self) -> None:
        self.adapters: dict[str, str] = {}
        self.requests: list[tuple[str, dict[str, object]]] = []
        self.refuse_loads_with: tuple[int, dict[str, object]] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.requests.append((request.url.path, body))
        if request.url.path == "/v1/models":
            cards = [{"id": "base", "root": "/models/base", "parent": None}] + [
                {"id": n, "root": p, "parent": "base"} for n, p in self.adapters.items()
            ]
            return httpx.Response(200, json={"object": "list", "data": cards})
        if request.url.path == "/v1/load_lora_adapter":
            if self.refuse_loads_with is not None:
                status, payload = self.refuse_loads_with
                return httpx.Response(status, json=payload)
            name = body["lora_name"]
            if name in self.adapters:
                message = (
                    f"The lora adapter '{name}' has already been loaded. If you want to load the "
                    "adapter in place, set 'load_inplace' to True."
                )
                error = {"message": message, "type": "InvalidUserInput", "code": 400}
                return httpx.Response(400, json={"error": error})
            self.adapters[name] = body["lora_path"]
            return httpx.Response(200, text=f"Success: LoRA adapter '{name}' added successfully.")
        if request.url.path == "/v1/unload_lora_adapter":
            name = body["lora_name"]
            if self.adapters.pop(name, None) is None:
                error = {"message": f"The lora adapter '{name}' cannot be found.", "code": 404}
                return httpx.Response(404, json={"error": error | {"type": "NotFoundError"}})
            return httpx.Response(200, text=f"Success: LoRA adapter '{name}' removed successfully.")
        return httpx.Response(404)


def _client(engine: VllmLike) -> EngineClient:
    return EngineClient("http://engine", transport=httpx.MockTransport(engine))


@pytest.mark.parametrize("payload", [NESTED, FLAT])
def test_both_error_shapes_are_read(payload: dict[str, object]) -> None:
    detail = parse_engine_error(400, json.dumps(payload).encode())

    assert (detail.message, detail.type) == ("bad rank", "BadRequestError")


def test_a_plain_text_error_is_kept_as_its_message() -> None:
    assert parse_engine_error(502, b"Bad Gateway\n").message == "Bad Gateway"


async def test_loading_twice_at_the_same_path_is_success() -> None:
    engine = VllmLike()
    client = _client(engine)

    await client.load("a", "/cache/a")
    await client.load("a", "/cache/a")

    assert engine.adapters == {"a": "/cache/a"}
    assert await client.adapters() == {"a": "/cache/a"}
    assert (await client.base_model()).root == "/models/base"
    await client.aclose()


async def test_loaded_from_another_path_is_replaced() -> None:
    engine = VllmLike()
    engine.adapters["a"] = "/somewhere/else"
    client = _client(engine)

    await client.load("a", "/cache/a")

    assert engine.adapters == {"a": "/cache/a"}
    await client.aclose()


async def test_unloading_an_unknown_name_is_success() -> None:
    client = _client(VllmLike())

    await client.unload("never-loaded")
    await client.aclose()


@pytest.mark.parametrize(
    ("status", "payload", "error"),
    [
        (
            404,
            {"error": {"message": "No adapter found", "type": "NotFoundError"}},
            AdapterFilesMissing,
        ),
        (400, FLAT, AdapterRejected),
        (500, NESTED, EngineUnavailable),
    ],
)
async def test_load_failures_map_to_the_error_tree(
    status: int, payload: dict[str, object], error: type[Exception]
) -> None:
    engine = VllmLike()
    engine.refuse_loads_with = (status, payload)
    client = _client(engine)

    with pytest.raises(error):
        await client.load("a", "/cache/a")
    await client.aclose()


async def test_an_engine_that_is_not_listening_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = EngineClient("http://engine", transport=httpx.MockTransport(refuse))

    assert await client.health() is False
    with pytest.raises(EngineUnavailable):
        await client.load("a", "/cache/a")
    with pytest.raises(EngineUnavailable):
        await client.open_inference("/v1/completions", b"{}")
    await client.aclose()
