"""The adapter cache's bookkeeping: entry sizes in least-recently-used order, and which entries
to drop so the cache fits its byte and count budgets. Pure; the cache does the file work."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class CacheBudget:
    """Entries (name -> bytes), least recently used first, under ``max_bytes``/``max_entries``."""

    def __init__(self, max_bytes: int, max_entries: int | None = None) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        if max_entries is not None and max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._sizes: OrderedDict[str, int] = OrderedDict()

    def __contains__(self, name: object) -> bool:
        return name in self._sizes

    def __len__(self) -> int:
        return len(self._sizes)

    @property
    def total_bytes(self) -> int:
        """Bytes of every entry together."""
        return sum(self._sizes.values())

    def names(self) -> list[str]:
        """Entry names, least recently used first."""
        return list(self._sizes)

    def add(self, name: str, size_bytes: int) -> None:
        """Record an entry (or its new size) as the most recently used."""
        self._sizes[name] = size_bytes
        self._sizes.move_to_end(name)

    def touch(self, name: str) -> None:
        """Mark an entry as just used."""
        if name in self._sizes:
            self._sizes.move_to_end(name)

    def remove(self, name: str) -> None:
        """Forget an entry (absent is fine)."""
        self._sizes.pop(name, None)

    def victims(self, *, pinned: Callable[[str], bool], keep: str | None = None) -> list[str]:
        """Entries to drop, least recently used first, until both budgets hold.

        Pinned entries (loaded in the engine, or being used) and ``keep`` are never chosen, so
        the cache may stay over budget while everything in it is in use.
        """
        total = self.total_bytes
        count = len(self._sizes)
        chosen: list[str] = []
        for name, size in self._sizes.items():
            if total <= self.max_bytes and (self.max_entries is None or count <= self.max_entries):
                break
            if name == keep or pinned(name):
                continue
            chosen.append(name)
            total -= size
            count -= 1
        return chosen
