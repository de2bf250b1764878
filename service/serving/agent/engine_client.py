"""The agent's HTTP client for one engine replica, speaking vLLM's API and nothing more.

Admin calls follow vLLM's rules (``shared/reference/vllm-lora.md`` §1.3, §6.5): success bodies
are plain text; errors come nested (``{"error": {...}}``) or flat (``{"object": "error", ...}``);
loading a name that is already loaded with the same path, and unloading a name the engine does
not know, both count as success. The same code drives real vLLM and ``ftapi engine``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from service.serving.engine_errors import parse_engine_error
from service.serving.errors import (
    AdapterFilesMissing,
    AdapterRejected,
    EngineUnavailable,
    ServingError,
)

ALREADY_LOADED_MARKER = "has already been loaded"


@dataclass(frozen=True)
class EngineModelCard:
    """One entry of the engine's ``GET /v1/models``: the base (no parent) or an adapter."""

    id: str
    root: str | None
    parent: str | None


class EngineClient:
    """Health, model listing, adapter load/unload and raw inference calls to one engine."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        load_timeout_s: float = 60.0,
        inference_timeout_s: float = 600.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._load_timeout_s = load_timeout_s
        self._inference_timeout = httpx.Timeout(inference_timeout_s, connect=timeout_s)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout_s,
            transport=transport,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def health(self) -> bool:
        """Whether ``GET /health`` answers 200."""
        try:
            response = await self._http.get("/health")
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def models(self) -> list[EngineModelCard]:
        """Every card of ``GET /v1/models``."""
        response = await self._call("GET", "/v1/models")
        if response.status_code != 200:
            raise EngineUnavailable(f"GET /v1/models answered {response.status_code}")
        data = response.json().get("data", [])
        return [
            EngineModelCard(id=card["id"], root=card.get("root"), parent=card.get("parent"))
            for card in data
            if isinstance(card, dict) and isinstance(card.get("id"), str)
        ]

    async def adapters(self) -> dict[str, str | None]:
        """Loaded adapters: name -> path (``root``), from the cards that have a parent."""
        return {card.id: card.root for card in await self.models() if card.parent is not None}

    async def base_model(self) -> EngineModelCard:
        """The base model's card (the one without a parent)."""
        for card in await self.models():
            if card.parent is None:
                return card
        raise EngineUnavailable("the engine lists no base model")

    async def load(self, name: str, path: str) -> None:
        """Register adapter ``name`` from directory ``path``; already loaded there is success."""
        response = await self._load(name, path)
        if response.status_code == 200:
            return
        error = parse_engine_error(response.status_code, response.content)
        if response.status_code == 400 and ALREADY_LOADED_MARKER in error.message:
            if (await self.adapters()).get(name) == path:
                return
            # Loaded from another directory (not by this agent): replace it.
            await self.unload(name)
            response = await self._load(name, path)
            if response.status_code == 200:
                return
            error = parse_engine_error(response.status_code, response.content)
        if response.status_code == 404:
            raise AdapterFilesMissing(f"the engine cannot read {path}: {error.message}")
        if 400 <= response.status_code < 500:
            raise AdapterRejected(f"the engine refused adapter {name}: {error.message}")
        raise EngineUnavailable(f"loading {name} answered {response.status_code}: {error.message}")

    async def unload(self, name: str) -> None:
        """Forget adapter ``name``; a name the engine does not know is already unloaded."""
        response = await self._call("POST", "/v1/unload_lora_adapter", payload={"lora_name": name})
        if response.status_code in (200, 404):
            return
        error = parse_engine_error(response.status_code, response.content)
        if response.status_code >= 500:
            raise EngineUnavailable(f"unloading {name} answered {response.status_code}")
        raise ServingError(f"unloading {name} answered {response.status_code}: {error.message}")

    async def open_inference(
        self, route: str, body: bytes, *, request_id: str | None = None
    ) -> httpx.Response:
        """Send an OpenAI request and return the response with its body unread (streamed).

        The caller must ``aclose()`` it. Transport failures raise ``EngineUnavailable``.
        """
        headers = {"content-type": "application/json"}
        if request_id:
            headers["x-request-id"] = request_id
        request = self._http.build_request(
            "POST", route, content=body, headers=headers, timeout=self._inference_timeout
        )
        try:
            return await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise EngineUnavailable(f"{route} failed: {type(exc).__name__}") from exc

    async def answer(self, route: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A whole (not streamed) inference answer to ``payload``, for the agent's own calls.

        Transport failures and 5xx raise ``EngineUnavailable``; another error answer raises
        ``ServingError`` with the engine's message.
        """
        response = await self._call("POST", route, payload=payload, wait_s=self._load_timeout_s)
        if response.status_code >= 500:
            raise EngineUnavailable(f"{route} answered {response.status_code}")
        if response.status_code != 200:
            error = parse_engine_error(response.status_code, response.content)
            raise ServingError(f"{route} answered {response.status_code}: {error.message}")
        body: Any = response.json()
        if not isinstance(body, dict):
            raise ServingError(f"{route} answered something other than a JSON object")
        return body

    async def _load(self, name: str, path: str) -> httpx.Response:
        return await self._call(
            "POST",
            "/v1/load_lora_adapter",
            payload={"lora_name": name, "lora_path": path},
            wait_s=self._load_timeout_s,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        payload: dict[str, Any] | None = None,
        wait_s: float | None = None,
    ) -> httpx.Response:
        try:
            if wait_s is None:
                return await self._http.request(method, path, json=payload)
            return await self._http.request(method, path, json=payload, timeout=wait_s)
        except httpx.TransportError as exc:
            raise EngineUnavailable(f"{method} {path} failed: {type(exc).__name__}") from exc
