"""The training processes of one run: started, listened to, signalled and reaped as a group.

Every rank is ``python -m gpu_runner.child RUN_CONFIG`` in one new process group of its own
(rank 0 leads it), so the gpu worker's signals never reach them by accident and one
``killpg`` reaches all of them. A rank's stdout is its message pipe; its stderr is kept as a
short tail for the operators' log. On more than one process the ranks get the environment
torchrun would set for one node (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``) and meet through ``env://``; torchrun's own agent is not needed on one node,
and without it the ranks stay in our process group and answer our SIGTERM directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import gpu_runner
from gpu_runner.training.messages import Message, decode

logger = logging.getLogger(__name__)

STDERR_TAIL_LINES = 40
_LINE_LIMIT_BYTES = 1 << 20
_PACKAGE_ROOT = str(Path(gpu_runner.__file__).resolve().parent.parent)  # even if not installed
_CHILD_ENV = {
    # Everything a run needs is on disk already: never reach for the Hub.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "PYTHONUNBUFFERED": "1",
}


@dataclass(frozen=True)
class RankEvent:
    """A message from a rank, or (``message`` None) the rank's exit with ``exit_code``."""

    rank: int
    message: Message | None = None
    exit_code: int | None = None


class TrainingProcesses:
    """The running ranks of one training run."""

    def __init__(self, processes: list[asyncio.subprocess.Process]) -> None:
        self._processes = processes
        self._events: asyncio.Queue[RankEvent] = asyncio.Queue()
        self._stderr = [deque[str](maxlen=STDERR_TAIL_LINES) for _ in processes]
        self._tasks = [
            task
            for rank, process in enumerate(processes)
            for task in (
                asyncio.create_task(self._read_messages(rank, process)),
                asyncio.create_task(self._read_stderr(rank, process)),
            )
        ]

    @classmethod
    async def start(cls, config_path: Path, world_size: int) -> TrainingProcesses:
        """Start ``world_size`` ranks of the run described by ``config_path``."""
        env = os.environ | _CHILD_ENV
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        if world_size > 1:
            env |= {
                "WORLD_SIZE": str(world_size),
                "LOCAL_WORLD_SIZE": str(world_size),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(_free_port()),
            }
        processes: list[asyncio.subprocess.Process] = []
        try:
            for rank in range(world_size):
                rank_env = env | {"RANK": str(rank), "LOCAL_RANK": str(rank)}
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "gpu_runner.child",
                        str(config_path),
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.PIPE,
                        env=rank_env,
                        limit=_LINE_LIMIT_BYTES,
                        # Rank 0 leads a new group; the others join it.
                        process_group=processes[0].pid if processes else 0,
                    )
                )
        except BaseException:
            for process in processes:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            raise
        return cls(processes)

    @property
    def pgid(self) -> int:
        """The process group of every rank."""
        return self._processes[0].pid

    def running(self) -> bool:
        """Whether any rank is still running."""
        return any(process.returncode is None for process in self._processes)

    async def next_event(self, timeout_s: float) -> RankEvent | None:
        """The next message or exit, or None after ``timeout_s`` without one."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation that
        # lands as the message arrives, and the worker's SIGTERM would go unheeded.
        try:
            async with asyncio.timeout(timeout_s):
                return await self._events.get()
        except TimeoutError:
            return None

    def request_checkpoint(self) -> None:
        """SIGTERM to every rank: checkpoint at the next step boundary, then exit."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to every rank (and anything they started)."""
        self._signal(signal.SIGKILL)

    async def close(self) -> None:
        """Kill whatever still runs and reap every rank and reader."""
        if self.running():
            self.kill()
        for process in self._processes:
            await process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stderr_tail(self) -> str:
        """The last stderr lines of every rank, for the operators' log."""
        return "\n".join(
            f"[rank {rank}] {line}" for rank, lines in enumerate(self._stderr) for line in lines
        )

    def _signal(self, signum: signal.Signals) -> None:
        if not self.running():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signum)

    async def _read_messages(self, rank: int, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None  # noqa: S101 - started with stdout=PIPE
        while True:
            try:
                line = await process.stdout.readline()
            except ValueError:  # a line over the limit: not one of ours
                logger.warning("rank %d wrote an oversized line to its message pipe", rank)
                continue
            if not line:
                break
            try:
                message = decode(line)
            except ValueError as exc:
                logger.warning("rank %d: %s", rank, exc)
                continue
            await self._events.put(RankEvent(rank, message=message))
        await self._events.put(RankEvent(rank, exit_code=await process.wait()))

    async def _read_stderr(self, rank: int, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None  # noqa: S101 - started with stderr=PIPE
        while True:
            try:
                line = await process.stderr.readline()
            except ValueError:
                continue
            if not line:
                return
            self._stderr[rank].append(line.decode(errors="replace").rstrip())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
