"""What a step optimises: next-token loss on trained tokens (supervised) — DPO lives in ``dpo``.

An objective turns units into segments, says what a step's loss is divided by (its
*normaliser*, the same on every micro-batch and rank of the step), computes a micro-batch's
share of the loss, and returns sums (``stats``) from which metrics are derived. Sums, not means:
they add up across micro-batches and ranks, and the metrics of any window of steps follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from peft import PeftModel

from gpu_runner.training.data import TrainingUnit
from gpu_runner.training.model import Placement, score_targets
from gpu_runner.training.packing import Batch, Segment


class Objective(Protocol):
    """One training method's loss and metrics."""

    unit_width: int  # sequences per unit: a row holds max_seq_length * unit_width tokens
    stat_names: tuple[str, ...]

    def segments(self, index: int, unit: TrainingUnit) -> list[Segment]:
        """The unit's sequences, numbered so per-sequence sums can be told apart."""
        ...

    def normalizer(self, units: Sequence[TrainingUnit]) -> float:
        """What the whole step's summed loss is divided by."""
        ...

    def loss(
        self, model: PeftModel, batch: Batch, placement: Placement, normalizer: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """This micro-batch's share of the step loss, and its stats (float64, ``stat_names``)."""
        ...

    def metrics(self, stats: Sequence[float], prefix: str) -> dict[str, float]:
        """Metrics from summed stats, named ``{prefix}loss`` etc. (prefix ``train_``, …)."""
        ...


class SupervisedObjective:
    """Cross-entropy on trained tokens, divided by the number of trained tokens in the step.

    Summing token losses over every micro-batch and dividing by the step's total trained tokens
    makes the update independent of how the step is split into micro-batches or ranks (a mean
    of per-micro-batch means would weigh short micro-batches up).
    """

    unit_width: int = 1
    stat_names: tuple[str, ...] = ("loss_sum", "correct", "targets", "tokens")

    def segments(self, index: int, unit: TrainingUnit) -> list[Segment]:
        (example,) = unit.sequences
        return [Segment(example.input_ids, example.trained, index)]

    def normalizer(self, units: Sequence[TrainingUnit]) -> float:
        return float(max(1, sum(unit.n_targets for unit in units)))

    def loss(
        self, model: PeftModel, batch: Batch, placement: Placement, normalizer: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = score_targets(model, batch, placement)
        loss_sum = -scores.log_probs.sum()
        counts = torch.tensor(
            [scores.correct.numel(), batch.n_tokens], dtype=torch.float64, device=loss_sum.device
        )
        stats = torch.cat(
            [loss_sum.detach().double().view(1), scores.correct.sum().double().view(1), counts]
        )
        return loss_sum / normalizer, stats

    def metrics(self, stats: Sequence[float], prefix: str) -> dict[str, float]:
        loss_sum, correct, targets, _tokens = stats
        if targets == 0:
            return {}
        return {
            f"{prefix}loss": loss_sum / targets,
            f"{prefix}mean_token_accuracy": correct / targets,
        }
