"""The residency registry's rules, against an in-memory engine that enforces its capacity."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from service.serving.agent.loaded_adapters import ResidencyRegistry
from service.serving.errors import AgentBusy, EngineUnavailable


class BoundedEngine:
    """An engine holding at most ``capacity`` adapters; loading past that is an error."""

    def __init__(
        self, capacity: int, *, load_delay_s: float = 0.0, unload_delay_s: float = 0.0
    ) -> None:
        self.capacity = capacity
        self.load_delay_s = load_delay_s
        self.unload_delay_s = unload_delay_s
        self.loaded: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_loads = False

    async def load(self, name: str, path: str) -> None:
        self.calls.append(("load", name))
        await asyncio.sleep(self.load_delay_s)
        if self.fail_loads:
            raise EngineUnavailable("engine down")
        if name not in self.loaded and len(self.loaded) >= self.capacity:
            raise AssertionError(f"engine over capacity loading {name}: {sorted(self.loaded)}")
        self.loaded[name] = path

    async def unload(self, name: str) -> None:
        self.calls.append(("unload", name))
        await asyncio.sleep(self.unload_delay_s)
        self.loaded.pop(name, None)
        self.calls.append(("unloaded", name))


class Fetcher:
    """Counts how often each adapter's directory was asked for."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    def __call__(self, name: str):  # type: ignore[no-untyped-def]
        async def fetch() -> Path:
            self.fetched.append(name)
            await asyncio.sleep(0)
            return Path("/cache") / name

        return fetch


async def _use(registry: ResidencyRegistry, fetcher: Fetcher, name: str) -> None:
    lease = await registry.acquire(name, fetcher(name))
    await lease.release()


async def test_loads_on_first_use_and_reuses_after() -> None:
    engine, fetcher = BoundedEngine(2), Fetcher()
    registry = ResidencyRegistry(engine, 2)

    await _use(registry, fetcher, "a")
    await _use(registry, fetcher, "a")

    assert engine.loaded == {"a": "/cache/a"}
    assert engine.calls == [("load", "a")]
    assert fetcher.fetched == ["a"]
    assert registry.holds("a")
    assert registry.in_flight("a") == 0


async def test_full_engine_unloads_the_least_recently_used_idle_adapter() -> None:
    engine, fetcher = BoundedEngine(2), Fetcher()
    registry = ResidencyRegistry(engine, 2)

    for name in ["a", "b", "a", "c"]:  # b is now the least recently used
        await _use(registry, fetcher, name)

    assert sorted(engine.loaded) == ["a", "c"]
    assert registry.loaded_names() == ["a", "c"]
    assert engine.calls[-3:] == [("unload", "b"), ("unloaded", "b"), ("load", "c")]


async def test_round_robin_over_more_adapters_than_slots_never_overfills() -> None:
    engine, fetcher = BoundedEngine(2), Fetcher()
    registry = ResidencyRegistry(engine, 2)

    for _ in range(3):
        for name in ["a", "b", "c", "d"]:
            await _use(registry, fetcher, name)
            assert len(engine.loaded) <= 2

    assert engine.calls.count(("load", "a")) == 3


async def test_an_adapter_with_requests_in_flight_is_never_unloaded() -> None:
    engine, fetcher = BoundedEngine(2), Fetcher()
    registry = ResidencyRegistry(engine, 2, slot_wait_s=0.05)
    held_a = await registry.acquire("a", fetcher("a"))
    await _use(registry, fetcher, "b")

    await _use(registry, fetcher, "c")  # b is idle: it goes, a stays
    held_c = await registry.acquire("c", fetcher("c"))
    with pytest.raises(AgentBusy):
        await registry.acquire("d", fetcher("d"))  # a and c are both busy

    assert sorted(engine.loaded) == ["a", "c"]
    assert ("unload", "a") not in engine.calls
    assert registry.in_flight("d") == 0
    assert not registry.holds("d")
    await held_a.release()
    await held_c.release()


async def test_a_load_waits_for_a_slot_to_free() -> None:
    engine, fetcher = BoundedEngine(1), Fetcher()
    registry = ResidencyRegistry(engine, 1, slot_wait_s=5.0)
    held = await registry.acquire("a", fetcher("a"))

    waiting = asyncio.create_task(_use(registry, fetcher, "b"))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await held.release()
    await asyncio.wait_for(waiting, 1.0)

    assert list(engine.loaded) == ["b"]
    assert engine.calls == [("load", "a"), ("unload", "a"), ("unloaded", "a"), ("load", "b")]


async def test_concurrent_first_requests_load_once() -> None:
    engine, fetcher = BoundedEngine(2, load_delay_s=0.05), Fetcher()
    registry = ResidencyRegistry(engine, 2)

    leases = await asyncio.gather(*(registry.acquire("a", fetcher("a")) for _ in range(10)))

    assert engine.calls == [("load", "a")]
    assert fetcher.fetched == ["a"]
    assert registry.in_flight("a") == 10
    for lease in leases:
        await lease.release()
        await lease.release()  # idempotent
    assert registry.in_flight("a") == 0


async def test_a_cancelled_requester_does_not_cancel_the_shared_load() -> None:
    engine, fetcher = BoundedEngine(2, load_delay_s=0.05), Fetcher()
    registry = ResidencyRegistry(engine, 2)

    first = asyncio.create_task(registry.acquire("a", fetcher("a")))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(registry.acquire("a", fetcher("a")))
    await asyncio.sleep(0.01)
    first.cancel()
    lease = await second

    assert registry.is_loaded("a")
    assert registry.in_flight("a") == 1
    assert engine.calls == [("load", "a")]
    await lease.release()


async def test_a_failed_load_is_retried_by_the_next_request() -> None:
    engine, fetcher = BoundedEngine(2), Fetcher()
    registry = ResidencyRegistry(engine, 2)
    engine.fail_loads = True

    with pytest.raises(EngineUnavailable):
        await registry.acquire("a", fetcher("a"))
    engine.fail_loads = False
    await _use(registry, fetcher, "a")

    assert registry.loaded_names() == ["a"]
    assert registry.in_flight("a") == 0
    assert engine.calls == [("load", "a"), ("load", "a")]


async def test_forgotten_adapters_load_again_on_next_use() -> None:
    engine, fetcher = BoundedEngine(2), Fetcher()
    registry = ResidencyRegistry(engine, 2)
    await _use(registry, fetcher, "a")

    engine.loaded.clear()  # the engine restarted
    await registry.forget(["a"])
    await _use(registry, fetcher, "a")

    assert engine.loaded == {"a": "/cache/a"}
    assert engine.calls == [("load", "a"), ("load", "a")]


async def test_adopted_adapters_count_against_capacity() -> None:
    engine, fetcher = BoundedEngine(2), Fetcher()
    engine.loaded = {"x": "/elsewhere/x", "y": "/elsewhere/y", "z": "/elsewhere/z"}
    engine.capacity = 3
    registry = ResidencyRegistry(engine, 2)
    registry.adopt(dict(engine.loaded))

    await _use(registry, fetcher, "a")

    assert registry.loaded_names() == ["z", "a"]
    assert sorted(engine.loaded) == ["a", "z"]


async def test_evict_waits_for_requests_to_finish() -> None:
    engine, fetcher = BoundedEngine(2), Fetcher()
    registry = ResidencyRegistry(engine, 2)
    held = await registry.acquire("a", fetcher("a"))

    eviction = asyncio.create_task(registry.evict("a", drain_timeout_s=5.0))
    await asyncio.sleep(0.05)
    assert "a" in engine.loaded
    await held.release()

    assert await asyncio.wait_for(eviction, 1.0) is True
    assert engine.loaded == {}
    assert not registry.holds("a")


async def test_evict_gives_up_while_still_busy() -> None:
    engine, fetcher = BoundedEngine(2), Fetcher()
    registry = ResidencyRegistry(engine, 2)
    held = await registry.acquire("a", fetcher("a"))

    assert await registry.evict("a", drain_timeout_s=0.05) is False
    assert "a" in engine.loaded
    await held.release()


async def test_unload_finishes_before_the_same_name_loads_again() -> None:
    engine, fetcher = BoundedEngine(1, unload_delay_s=0.05), Fetcher()
    registry = ResidencyRegistry(engine, 1)
    await _use(registry, fetcher, "a")

    # b evicts a; a is asked for again while its unload is still running.
    loading_b = asyncio.create_task(_use(registry, fetcher, "b"))
    while ("unload", "a") not in engine.calls:
        await asyncio.sleep(0.001)
    await _use(registry, fetcher, "a")
    await loading_b

    ops_on_a = [op for op in engine.calls if op[1] == "a"]
    assert ops_on_a == [("load", "a"), ("unload", "a"), ("unloaded", "a"), ("load", "a")]
    assert list(engine.loaded) == ["a"]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ResidencyRegistry(BoundedEngine(1), 0)
