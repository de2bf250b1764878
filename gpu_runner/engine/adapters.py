"""The adapters the engine has registered: names a request may use, each with its path and id.

This is vLLM's frontend registry (``OpenAIServingModels.lora_requests``): it is not bounded (vLLM
bounds only the weights it keeps, see ``residency``), it lives in process memory only, and each
name gets an integer id from a counter; ``load_inplace`` keeps the id, a fresh load gets a new
one. Read by the event loop and the worker thread, hence the lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class AdapterRecord:
    """One registered adapter."""

    name: str
    path: str
    int_id: int


class AdapterRegistry:
    """Registered adapters by name."""

    def __init__(self) -> None:
        self._records: dict[str, AdapterRecord] = {}
        self._last_id = 0
        self._lock = threading.Lock()

    def get(self, name: str) -> AdapterRecord | None:
        """The record registered under ``name``, if any."""
        with self._lock:
            return self._records.get(name)

    def all(self) -> list[AdapterRecord]:
        """Every record, in registration order."""
        with self._lock:
            return list(self._records.values())

    def prepare(self, name: str, path: str) -> AdapterRecord:
        """The record loading ``name`` would register: its current id if loaded, else a new id."""
        with self._lock:
            existing = self._records.get(name)
            if existing is None:
                self._last_id += 1
            int_id = existing.int_id if existing is not None else self._last_id
            return AdapterRecord(name=name, path=path, int_id=int_id)

    def register(self, record: AdapterRecord) -> None:
        """Make ``record`` current for its name (after its weights loaded)."""
        with self._lock:
            self._records[record.name] = record

    def remove(self, name: str) -> AdapterRecord | None:
        """Forget ``name``; the record it had, if any."""
        with self._lock:
            return self._records.pop(name, None)

    def current(self, record: AdapterRecord) -> AdapterRecord | None:
        """What ``record``'s registration is now: None once unloaded or loaded afresh.

        A ``load_inplace`` keeps the registration (same id) with new files.
        """
        with self._lock:
            now = self._records.get(record.name)
        return now if now is not None and now.int_id == record.int_id else None
