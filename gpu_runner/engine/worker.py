"""The one thread every torch call runs on, and how the event loop waits for it.

One generation (or adapter load) at a time keeps peft's adapter switching safe and is enough for
a CPU engine; the event loop never runs torch, so ``/health`` and ``/v1/models`` answer while a
generation runs. Streams pass each event to the loop as it is made.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class _Done:
    """Marks the end of a stream."""


class ModelWorker:
    """A single worker thread; ``waiting`` and ``running`` count jobs for the metrics."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ftapi-engine")
        self._cancel_events: set[threading.Event] = set()
        self._counts_lock = threading.Lock()
        self.waiting = 0
        self.running = 0

    async def call(self, job: Callable[[], T]) -> T:
        """Run ``job`` on the worker thread and return its result (or raise its error)."""
        loop = asyncio.get_running_loop()
        return await self._submit(loop, job)

    async def stream(
        self, job: Callable[[threading.Event], Generator[T, None, None]]
    ) -> AsyncIterator[T]:
        """Run ``job`` on the worker thread, yielding its items as they come.

        ``job`` gets an event that is set once the consumer stops early (or on shutdown); it
        should check it between items and return.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[T | _Done | BaseException] = asyncio.Queue()
        cancelled = threading.Event()
        self._cancel_events.add(cancelled)

        def put(item: T | _Done | BaseException) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed under us (shutdown): nobody is listening
                cancelled.set()

        def run() -> None:
            items = job(cancelled)
            try:
                for item in items:
                    put(item)
                    if cancelled.is_set():
                        break
            except BaseException as exc:  # handed to the consumer, which re-raises it
                put(exc)
            finally:
                items.close()  # runs the job's own clean-up here, on the worker thread
                put(_Done())

        submitted = self._submit(loop, run)  # run() hands every outcome over the queue

        def never_ran(future: asyncio.Future[None]) -> None:
            if future.cancelled():  # shutdown dropped it from the executor's queue
                queue.put_nowait(RuntimeError("the engine is shutting down"))

        submitted.add_done_callback(never_ran)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Done):
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancelled.set()
            self._cancel_events.discard(cancelled)

    def shutdown(self) -> None:
        """Stop running streams at their next token and refuse new jobs."""
        for event in list(self._cancel_events):
            event.set()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _submit(self, loop: asyncio.AbstractEventLoop, job: Callable[[], T]) -> asyncio.Future[T]:
        self._count(waiting=+1)
        try:
            return loop.run_in_executor(self._executor, self._counted, job)
        except RuntimeError:  # shut down: the job never runs
            self._count(waiting=-1)
            raise

    def _counted(self, job: Callable[[], T]) -> T:
        self._count(waiting=-1, running=+1)
        try:
            return job()
        finally:
            self._count(running=-1)

    def _count(self, *, waiting: int = 0, running: int = 0) -> None:
        with self._counts_lock:
            self.waiting += waiting
            self.running += running
