"""The learning rate of each step: linear warm-up, then linear or cosine decay towards zero.

A pure function of the step, so the "scheduler state" a checkpoint needs is the step number.
"""

from __future__ import annotations

import math

from gpu_runner.training.config import LearningRateSchedule


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    """Warm-up length: ``warmup_ratio`` of the run, rounded up (0 only for a ratio of 0)."""
    return min(total_steps, math.ceil(total_steps * warmup_ratio))


def learning_rate_at(
    step: int,
    *,
    peak: float,
    total_steps: int,
    warmup: int,
    schedule: LearningRateSchedule,
) -> float:
    """The rate of 0-based step ``step``: ``peak * (step+1)/warmup`` while warming up, then decay.

    The decay never reaches zero on a step that runs: the last step gets ``peak / (decay steps)``
    under the linear schedule.
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    decay_steps = max(1, total_steps - warmup)
    progress = (step - warmup) / decay_steps
    if schedule is LearningRateSchedule.COSINE:
        return peak * 0.5 * (1.0 + math.cos(math.pi * progress))
    return peak * (1.0 - progress)
