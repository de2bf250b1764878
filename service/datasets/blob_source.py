"""Feed a blob store's async byte stream to synchronous, CPU-bound consumers in a thread.

The validator and the tokenizer are plain synchronous code over ``Iterable[bytes]``; they run in
a worker thread so the event loop stays free, pulling each chunk from the loop as they need it
(one chunk in flight, so memory stays bounded whatever the file's size).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = b""


def _pull_from_loop(
    stream: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop
) -> Iterator[bytes]:
    async def next_chunk() -> bytes:
        return await anext(stream, _END)

    while chunk := asyncio.run_coroutine_threadsafe(next_chunk(), loop).result():
        yield chunk


async def consume_in_thread(
    stream: AsyncIterator[bytes], consumer: Callable[[Iterator[bytes]], T]
) -> T:
    """Run ``consumer(chunks)`` in a worker thread over the chunks of ``stream``."""
    loop = asyncio.get_running_loop()
    return await asyncio.to_thread(consumer, _pull_from_loop(stream, loop))
