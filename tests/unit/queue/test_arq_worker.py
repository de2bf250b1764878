"""A worker's one typed context: opened at start-up into arq's ``ctx``, handed to each task,
closed at shutdown (and a shutdown after a failed start-up has nothing to close)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from service.queue.arq_worker import worker_options
from service.queue.names import QueueName, TaskName
from service.queue.task_policy import task
from service.settings import Settings


@dataclass
class CountingContext:
    seen: list[str] = field(default_factory=list)
    closed: int = 0

    async def close(self) -> None:
        self.closed += 1


@dataclass
class OtherContext:
    async def close(self) -> None:
        pass


async def _remember(context: CountingContext, item: str, *, twice: bool = False) -> None:
    context.seen.extend([item] * (2 if twice else 1))


async def _forget(context: CountingContext, item: str, *, twice: bool = False) -> None:
    pass


remember = task(
    CountingContext, TaskName.VALIDATE_FILE, _remember, give_up=_forget, max_tries=1, timeout_s=5
).coroutine


async def test_tasks_get_the_context_opened_at_start_up_and_shutdown_closes_it() -> None:
    opened = CountingContext()

    async def open_context() -> CountingContext:
        return opened

    options = worker_options(Settings(), QueueName.CTL, open_context)
    ctx: dict[str, Any] = {}
    await options["on_startup"](ctx)

    await remember(ctx, "a")
    await remember(ctx, "b", twice=True)
    await options["on_shutdown"](ctx)
    await options["on_shutdown"](ctx)

    assert opened.seen == ["a", "b", "b"]
    assert opened.closed == 1
    assert ctx == {}


async def test_a_shutdown_after_a_failed_start_up_closes_nothing() -> None:
    async def open_context() -> CountingContext:
        raise ConnectionError("no database")

    options = worker_options(Settings(), QueueName.GPU, open_context)
    ctx: dict[str, Any] = {}
    with pytest.raises(ConnectionError):
        await options["on_startup"](ctx)

    await options["on_shutdown"](ctx)

    assert ctx == {}


async def test_a_task_refuses_another_workers_context() -> None:
    async def open_context() -> OtherContext:
        return OtherContext()

    ctx: dict[str, Any] = {}
    await worker_options(Settings(), QueueName.GPU, open_context)["on_startup"](ctx)

    with pytest.raises(TypeError, match="OtherContext, not CountingContext"):
        await remember(ctx, "a")
