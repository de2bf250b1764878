"""The adapter agent: makes sure an adapter is loaded in its engine, then forwards the request.

One agent runs beside each engine replica and is the only writer of that engine's adapter set
(``shared/reference/vllm-lora.md`` §6.1). A request names an engine-side adapter and the blob
prefix it was published under; the agent fetches it into its cache, loads it (unloading idle
ones when the engine is full), and forwards the request, holding the adapter until the response
is finished. An engine that restarted has forgotten its adapters: the first request that meets a
404 re-synchronises the view from ``GET /v1/models``, loads the adapter again and retries once.
The first load of each adapter runs the parity check (``parity.ParityCheck``) before any request
reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service.blobstore.errors import InvalidBlobKey
from service.blobstore.keys import validate_prefix
from service.serving.agent.adapter_cache import AdapterCache
from service.serving.agent.engine_client import EngineClient
from service.serving.agent.loaded_adapters import Lease, ResidencyRegistry
from service.serving.agent.parity import ParityCheck
from service.serving.errors import EngineUnavailable, ModelUnservable
from service.serving.names import is_adapter_name

logger = logging.getLogger(__name__)


class BadAgentRequest(ValueError):
    """The gateway sent something the agent cannot act on (a bug, never a tenant's input)."""


@dataclass
class EngineReply:
    """The engine's answer with its body unread, and the adapter hold to give back after it."""

    response: httpx.Response
    lease: Lease | None

    @property
    def is_stream(self) -> bool:
        """Whether the body is a server-sent event stream."""
        content_type: str = self.response.headers.get("content-type", "")
        return content_type.startswith("text/event-stream")

    async def close(self) -> None:
        """Close the engine response and release the adapter (idempotent)."""
        try:
            await self.response.aclose()
        finally:
            if self.lease is not None:
                await self.lease.release()


class AdapterAgent:
    """Cache, residency registry and engine client of one replica, used by the agent's app."""

    def __init__(
        self,
        engine: EngineClient,
        cache: AdapterCache,
        registry: ResidencyRegistry,
        parity: ParityCheck,
        *,
        resync_interval_s: float = 30.0,
        evict_drain_timeout_s: float = 60.0,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.registry = registry
        self.parity = parity
        self._resync_interval_s = resync_interval_s
        self._evict_drain_timeout_s = evict_drain_timeout_s
        self._base_root: str | None = None
        self._base_id: str | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Verify the cache, adopt what the engine already has, start the periodic re-sync."""
        await self.cache.start()
        with contextlib.suppress(EngineUnavailable):
            await self._learn_base()
            self.registry.adopt(
                {name: path or "" for name, path in (await self.engine.adapters()).items()}
            )
        self._spawn(self._resync_forever())

    async def close(self) -> None:
        """Stop background work and close the engine connection pool."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.engine.aclose()

    async def open(
        self,
        route: str,
        body: bytes,
        *,
        adapter_prefix: str | None,
        request_id: str | None = None,
    ) -> EngineReply:
        """Forward an OpenAI request to the engine, loading its adapter first when it has one.

        ``adapter_prefix`` is None for the base model. The reply must be closed by the caller.
        """
        if adapter_prefix is None:
            response = await self.engine.open_inference(route, body, request_id=request_id)
            return EngineReply(response, None)
        name = _model_of(body)
        if not is_adapter_name(name):
            raise BadAgentRequest(f"model {name!r} is not an engine-side adapter name")
        try:
            validate_prefix(adapter_prefix)
        except InvalidBlobKey as exc:
            raise BadAgentRequest(f"bad adapter prefix: {exc}") from None

        async def fetch() -> Path:
            base_root = await self._learn_base()
            return await self.cache.ensure_local(name, adapter_prefix, base_model_root=base_root)

        async def verify() -> None:
            await self.parity.verify(name, adapter_prefix)

        self.parity.raise_if_unservable(name)
        try:
            lease = await self.registry.acquire(name, fetch, verify)
        except ModelUnservable:
            # Every request waiting on the failed load gets the verdict; one of them reports it.
            self.parity.raise_if_unservable(name)
            raise
        try:
            response = await self.engine.open_inference(route, body, request_id=request_id)
            if response.status_code == 404:
                # The engine forgot the adapter: it restarted, or someone unloaded it.
                await response.aclose()
                logger.info("engine does not know %s: re-syncing and loading it again", name)
                await self.resync()
                await self.registry.forget([name])
                await self.registry.ensure_loaded(name, fetch, verify)
                response = await self.engine.open_inference(route, body, request_id=request_id)
        except BaseException:
            await lease.release()
            raise
        return EngineReply(response, lease)

    async def evict(self, name: str) -> None:
        """Unload ``name`` once idle and delete its cached directory (in the background)."""
        if not is_adapter_name(name):
            raise BadAgentRequest(f"{name!r} is not an engine-side adapter name")
        self._spawn(self._evict(name))

    async def resync(self) -> None:
        """Drop from the view every adapter the engine no longer lists."""
        believed = set(self.registry.loaded_names())
        listed = await self.engine.adapters()
        forgotten = believed - set(listed)
        if forgotten:
            logger.info("engine forgot %d adapter(s); they load again on demand", len(forgotten))
            await self.registry.forget(forgotten)

    def state(self) -> dict[str, Any]:
        """What this agent holds, for operators and the gateway."""
        return {
            "engine_url": self.engine.base_url,
            "base_model": self._base_id,
            "capacity": self.registry.capacity,
            "loaded": [
                {"name": name, "in_flight": self.registry.in_flight(name)}
                for name in self.registry.loaded_names()
            ],
            "cache": {"bytes": self.cache.total_bytes, "entries": self.cache.names()},
            "parity": self.parity.state(),
        }

    async def _learn_base(self) -> str:
        """The engine's ``--model`` string (its base card's ``root``), asked once."""
        if self._base_root is None:
            card = await self.engine.base_model()
            self._base_id = card.id
            self._base_root = card.root or card.id
        return self._base_root

    async def _evict(self, name: str) -> None:
        try:
            if await self.registry.evict(name, drain_timeout_s=self._evict_drain_timeout_s):
                await self.cache.drop(name)
        except EngineUnavailable as exc:
            logger.warning("could not unload %s: %s", name, exc.message)

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self._resync_interval_s)
            try:
                await self.resync()
            except EngineUnavailable as exc:
                logger.warning("engine unavailable during re-sync: %s", exc.message)

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _model_of(body: bytes) -> str:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadAgentRequest("the request body is not JSON") from None
    model = payload.get("model") if isinstance(payload, dict) else None
    if not isinstance(model, str):
        raise BadAgentRequest("the request names no model")
    return model
