"""Which adapters' weights are loaded: a bounded LRU that never evicts an adapter in use.

This is vLLM's CPU cache of ``--max-cpu-loras`` adapters (``LRUCacheWorkerLoRAManager``): a
registered adapter whose weights were evicted is loaded again from its ``lora_path`` on its next
request, so the disk-path invariant (a registered adapter's directory must stay readable) holds
here as it does in vLLM. Owned by the worker thread; nothing here touches torch.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager


class ResidencyFullError(RuntimeError):
    """Every loaded adapter is in use, so none can make room for another."""


class AdapterResidency:
    """Names of loaded adapters, least recently used first, at most ``capacity`` of them."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._lru: OrderedDict[str, None] = OrderedDict()
        self._in_use: Counter[str] = Counter()

    @property
    def resident(self) -> list[str]:
        """Loaded adapters, least recently used first."""
        return list(self._lru)

    def is_resident(self, name: str) -> bool:
        """Whether ``name``'s weights are loaded."""
        return name in self._lru

    def touch(self, name: str) -> None:
        """Mark a loaded adapter as just used."""
        self._lru.move_to_end(name)

    def make_room(self) -> list[str]:
        """The idle adapters to unload, oldest first, so that one more fits.

        They are forgotten here at once; the caller unloads their weights.
        """
        excess = len(self._lru) + 1 - self.capacity
        idle = [name for name in self._lru if not self._in_use[name]]
        if excess > len(idle):
            raise ResidencyFullError(
                f"all {len(self._lru)} loaded adapters are serving requests; none can be evicted"
            )
        victims = idle[: max(excess, 0)]
        for name in victims:
            del self._lru[name]
        return victims

    def add(self, name: str) -> None:
        """Record ``name`` as loaded and most recently used (after ``make_room``)."""
        if name not in self._lru and len(self._lru) >= self.capacity:
            raise ResidencyFullError(f"no room for {name!r}: call make_room first")
        self._lru[name] = None
        self._lru.move_to_end(name)

    def remove(self, name: str) -> bool:
        """Forget ``name``; whether it was loaded. Refuses one in use."""
        if self._in_use[name]:
            raise ResidencyFullError(f"adapter {name!r} is serving a request")
        if name not in self._lru:
            return False
        del self._lru[name]
        return True

    @contextmanager
    def in_use(self, name: str) -> Iterator[None]:
        """Pin ``name`` while a request runs on it: ``make_room`` and ``remove`` skip it."""
        self._in_use[name] += 1
        try:
            yield
        finally:
            self._in_use[name] -= 1
            if not self._in_use[name]:
                del self._in_use[name]
