"""Which adapters the engine has loaded, kept within its ``--max-cpu-loras``.

The registry is the agent's view of the engine's adapter names (``shared/reference/vllm-lora.md``
§6.6). Its rules:

- at most ``capacity`` adapters are loaded or being loaded; a load that needs a slot unloads
  the least recently used adapter with no request in flight, and waits (up to ``slot_wait_s``)
  when every loaded adapter is busy, then gives up with ``AgentBusy``;
- an adapter with requests in flight is never unloaded;
- each adapter is loaded by one task at a time however many requests ask for it, and engine
  calls on one name never overlap (an unload finishes before the same name loads again);
- the view is soft state: ``forget`` drops names the engine no longer has (it restarted), and
  the next request loads them again;
- a load may be verified (``verify``, the parity check) before the adapter counts as loaded:
  requests waiting on the load wait for it too, and an adapter that fails it is unloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from service.serving.agent.single_flight import SingleFlight
from service.serving.errors import AgentBusy


class AdapterLoader(Protocol):
    """The engine's admin calls the registry needs (``EngineClient`` is the real one)."""

    async def load(self, name: str, path: str) -> None:
        """Register adapter ``name`` from ``path`` (already loaded there is success)."""
        ...

    async def unload(self, name: str) -> None:
        """Forget adapter ``name`` (unknown is success)."""
        ...


FetchAdapter = Callable[[], Awaitable[Path]]
VerifyLoad = Callable[[], Awaitable[None]]


@dataclass
class Lease:
    """One request's hold on a loaded adapter; release it when the response is finished."""

    registry: ResidencyRegistry
    name: str
    _released: bool = field(default=False, repr=False)

    async def release(self) -> None:
        """Give the hold back (idempotent)."""
        if not self._released:
            self._released = True
            await self.registry._release(self.name)


class ResidencyRegistry:
    """The engine's loaded adapters, least recently used first, with in-flight counts."""

    def __init__(self, engine: AdapterLoader, capacity: int, *, slot_wait_s: float = 5.0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._engine = engine
        self._slot_wait_s = slot_wait_s
        self._loaded: OrderedDict[str, str] = OrderedDict()  # name -> path, LRU first
        self._loading: set[str] = set()  # names holding a slot while the engine loads them
        self._in_flight: Counter[str] = Counter()
        self._changed = asyncio.Condition()
        self._loads: SingleFlight[None] = SingleFlight()
        self._name_locks: dict[str, asyncio.Lock] = {}

    # -- views ------------------------------------------------------------------------------

    def loaded_names(self) -> list[str]:
        """Loaded adapters, least recently used first."""
        return list(self._loaded)

    def is_loaded(self, name: str) -> bool:
        """Whether the registry believes the engine has ``name``."""
        return name in self._loaded

    def in_flight(self, name: str) -> int:
        """Requests holding ``name`` now."""
        return self._in_flight[name]

    def holds(self, name: str) -> bool:
        """Whether ``name``'s directory must stay: loaded, loading or in use."""
        return name in self._loaded or name in self._loading or self._in_flight[name] > 0

    # -- requests ---------------------------------------------------------------------------

    async def acquire(
        self, name: str, fetch: FetchAdapter, verify: VerifyLoad | None = None
    ) -> Lease:
        """Hold ``name`` for one request, loading it first if the engine does not have it.

        ``fetch`` gives the adapter's local directory; it runs only when a load is needed, and
        so does ``verify``, once the engine has loaded it.
        """
        self._in_flight[name] += 1
        lease = Lease(self, name)
        try:
            await self.ensure_loaded(name, fetch, verify)
        except BaseException:
            await lease.release()
            raise
        return lease

    async def ensure_loaded(
        self, name: str, fetch: FetchAdapter, verify: VerifyLoad | None = None
    ) -> None:
        """Load ``name`` unless it is loaded (one load per name at a time)."""
        if name in self._loaded:
            self._loaded.move_to_end(name)
            return
        await self._loads.run(name, lambda: self._load(name, fetch, verify))

    async def forget(self, names: Iterable[str]) -> None:
        """The engine no longer has these adapters (it restarted, or someone unloaded them)."""
        async with self._changed:
            for name in names:
                self._loaded.pop(name, None)
            self._changed.notify_all()

    def adopt(self, adapters: dict[str, str]) -> None:
        """Take adapters the engine already had (name -> path) into the view, at start-up."""
        for name, path in adapters.items():
            self._loaded.setdefault(name, path)

    async def evict(self, name: str, *, drain_timeout_s: float) -> bool:
        """Unload ``name`` once its requests finish (its model was deleted).

        Returns False when requests still hold it after ``drain_timeout_s``; the LRU unloads it
        later in that case.
        """
        async with self._changed:
            try:
                async with asyncio.timeout(drain_timeout_s):
                    await self._changed.wait_for(
                        lambda: self._in_flight[name] == 0 and name not in self._loading
                    )
            except TimeoutError:
                return False
            self._loaded.pop(name, None)
        await self._unload(name)
        async with self._changed:
            self._changed.notify_all()
        return True

    async def _release(self, name: str) -> None:
        async with self._changed:
            self._in_flight[name] -= 1
            if self._in_flight[name] <= 0:
                del self._in_flight[name]
                self._changed.notify_all()

    # -- loading ----------------------------------------------------------------------------

    async def _load(self, name: str, fetch: FetchAdapter, verify: VerifyLoad | None) -> None:
        path = await fetch()
        victims = await self._reserve_slot(name)
        try:
            for victim in victims:
                await self._unload(victim)
            async with self._lock_for(name):
                await self._engine.load(name, str(path))
            if verify is not None:
                try:
                    await verify()
                except BaseException:
                    await self._unload(name)  # never leave an unverified adapter in the engine
                    raise
            self._loaded[name] = str(path)
        finally:
            async with self._changed:
                self._loading.discard(name)
                self._changed.notify_all()

    async def _reserve_slot(self, name: str) -> list[str]:
        """Take a slot for ``name``, choosing idle adapters to unload if the engine is full."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._slot_wait_s
        async with self._changed:
            while True:
                victims = self._victims_for_one_more()
                if victims is not None:
                    for victim in victims:
                        del self._loaded[victim]
                    self._loading.add(name)
                    return victims
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise AgentBusy(
                        f"all {self.capacity} adapter slots have requests in flight; "
                        "retry shortly or on another replica"
                    )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._changed.wait()

    def _victims_for_one_more(self) -> list[str] | None:
        """Idle adapters to unload so one more fits, LRU first; None when that is impossible."""
        excess = len(self._loaded) + len(self._loading) + 1 - self.capacity
        if excess <= 0:
            return []
        idle = [n for n in self._loaded if self._in_flight[n] == 0]
        return idle[:excess] if len(idle) >= excess else None

    async def _unload(self, name: str) -> None:
        async with self._lock_for(name):
            await self._engine.unload(name)
        lock = self._name_locks.get(name)
        if lock is not None and not lock.locked() and not self.holds(name):
            del self._name_locks[name]

    def _lock_for(self, name: str) -> asyncio.Lock:
        return self._name_locks.setdefault(name, asyncio.Lock())
