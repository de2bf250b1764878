"""At most one run of an async operation per key; concurrent callers share its result."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Runs ``factory()`` once per key at a time; callers arriving meanwhile await that run.

    The run is a task of its own, so a caller that gives up (a client disconnecting) does not
    cancel the work the others are waiting for. A failed run is not remembered: the next call
    starts a fresh one.
    """

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[T]] = {}

    def in_flight(self, key: str) -> bool:
        """Whether a run for ``key`` is under way."""
        return key in self._running

    async def run(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        """The result of the current run for ``key``, starting one if there is none."""
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(factory())
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: str, task: asyncio.Task[T]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so a run nobody awaited any more never warns
