"""The seam the domain uses to hand work to workers; arq implements it."""

from __future__ import annotations

from typing import Protocol

from service.queue.names import QueueName, TaskName


class TaskQueue(Protocol):
    """Enqueue tasks by name with ids-only arguments; deduplicated by ``key``."""

    async def enqueue(
        self,
        task: TaskName,
        *args: str | int,
        queue: QueueName,
        key: str,
        defer_s: float | None = None,
    ) -> bool:
        """Queue ``task(*args)``; False when a task with ``key`` is already queued or running."""
        ...

    async def is_pending(self, key: str) -> bool:
        """Whether a task with ``key`` is queued or running."""
        ...

    async def abort(self, key: str) -> None:
        """Ask workers to drop or cancel the task with ``key`` (best effort)."""
        ...

    async def release_claim(self, key: str) -> None:
        """Forget a dead worker's claim on the task ``key`` so it can be picked up at once."""
        ...
