"""Entry point of a training process: ``python -m gpu_runner.child RUN_CONFIG_JSON``.

Started by ``gpu_runner.process`` (once per rank), never by hand. Its stdout is the message
pipe (``training.messages``); whatever else writes to stdout (a library's print) is sent to
stderr instead, so the pipe carries protocol lines only. SIGTERM asks for a checkpoint and a
clean stop at the next step boundary; the handler is installed before the heavy imports so
that an early SIGTERM is never lost. A process whose parent died exits at the next step:
nobody is left to take its checkpoints.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from types import FrameType


class SignalStop:
    """Set by SIGTERM; exits the process if it has been orphaned."""

    def __init__(self) -> None:
        self._requested = False
        self._parent_pid = os.getppid()
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, _signum: int, _frame: FrameType | None) -> None:
        self._requested = True

    def is_set(self) -> bool:
        """Whether SIGTERM arrived."""
        if os.getppid() != self._parent_pid:
            os._exit(3)  # the parent is gone: no checkpoint could be delivered
        return self._requested


def main(argv: list[str]) -> int:
    """Run one rank of a training run; the exit status is 0 unless it failed."""
    stop = SignalStop()
    message_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints go to stderr; fd 1's old target is the message pipe

    import logging  # the heavy imports come after the signal handler, on purpose

    from gpu_runner.training.config import RunConfig
    from gpu_runner.training.errors import (
        INTERNAL_ERROR_CODE,
        INTERNAL_ERROR_MESSAGE,
        TrainingRunError,
    )
    from gpu_runner.training.messages import (
        Channel,
        Failed,
        PipeChannel,
        SilentChannel,
    )

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    pipe = PipeChannel(message_fd)
    channel: Channel = pipe
    try:
        from gpu_runner.training.distributed import Ranks
        from gpu_runner.training.loop import TrainingRun

        with open(argv[1], encoding="utf-8") as handle:
            config = RunConfig.model_validate_json(handle.read())
        ranks = Ranks.from_env()
        channel = pipe if ranks.is_main else SilentChannel(pipe)
        _limit_cpu_threads(ranks.world_size)
        try:
            TrainingRun(config, channel, stop, ranks).run()
        finally:
            ranks.close()
    except TrainingRunError as failure:
        channel.send(Failed(failure.code, failure.message))
        return 1
    except BrokenPipeError:
        return 3  # the parent stopped listening
    except BaseException:
        traceback.print_exc()
        channel.send(Failed(INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE))
        return 1
    return 0


def _limit_cpu_threads(world_size: int) -> None:
    """Ranks sharing a CPU split its cores instead of all using every one."""
    import torch

    if world_size > 1 and not torch.cuda.is_available():
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
