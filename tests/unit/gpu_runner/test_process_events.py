"""Waiting for a rank's next message must never swallow the worker's cancellation."""

from __future__ import annotations

import asyncio

import pytest

from gpu_runner.process import RankEvent, TrainingProcesses


async def test_a_cancellation_that_lands_as_a_message_arrives_is_not_lost() -> None:
    processes = TrainingProcesses([])  # no ranks: the test plays their messages
    waiting = asyncio.ensure_future(processes.next_event(timeout_s=5.0))
    await asyncio.sleep(0)  # it now waits on the queue

    processes._events.put_nowait(RankEvent(rank=0, exit_code=0))  # a message arrives, and
    waiting.cancel()  # in the same step the worker's SIGTERM cancels the attempt

    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_no_message_within_the_timeout_is_none() -> None:
    assert await TrainingProcesses([]).next_event(timeout_s=0.01) is None
