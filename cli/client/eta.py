"""Time left for a training job, from how fast its steps have gone so far.

Observations are ``(step, at_s)`` pairs from metrics events; the rate is measured from the first
step seen in the current run, so time spent queued or paused before it does not count. A step
number lower than the last one means the job resumed from a checkpoint: measuring restarts.
"""

from __future__ import annotations

# Below this much elapsed time the rate is noise (event times have one-second resolution).
MIN_ELAPSED_S = 1.0


class StepEta:
    """Steps per second so far and the seconds left to ``total_steps``."""

    def __init__(self) -> None:
        self._first: tuple[int, float] | None = None
        self._last: tuple[int, float] | None = None
        self.total_steps: int | None = None

    def observe(self, step: int, total_steps: int, at_s: float) -> None:
        """Record that ``step`` of ``total_steps`` was done at ``at_s``."""
        if self._last is not None and step < self._last[0]:
            self._first = None
        if self._first is None:
            self._first = (step, at_s)
        self._last = (step, at_s)
        self.total_steps = total_steps

    def steps_per_s(self) -> float | None:
        """The measured rate, or None until it means something."""
        if self._first is None or self._last is None:
            return None
        steps = self._last[0] - self._first[0]
        elapsed_s = self._last[1] - self._first[1]
        if steps <= 0 or elapsed_s < MIN_ELAPSED_S:
            return None
        return steps / elapsed_s

    def remaining_s(self) -> float | None:
        """Seconds until the last step at the measured rate (0 when done), or None if unknown."""
        if self._last is None or self.total_steps is None:
            return None
        left = self.total_steps - self._last[0]
        if left <= 0:
            return 0.0
        rate = self.steps_per_s()
        return None if rate is None else left / rate
