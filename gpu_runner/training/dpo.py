"""Direct preference optimisation: prefer the chosen answer over the rejected one, relative to
the base model.

For a pair, with log-probabilities summed over each answer's trained tokens,
``margin = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))`` and the
loss is ``-log sigmoid(margin)``. The reference is the model the job started from (as in
OpenAI's DPO): the base itself, the same network with the adapter switched off (peft's
``disable_adapter``), or, for a job that continues a fine-tuned model, that model's adapter
kept frozen beside the trained one (``model.reference_model``). It runs without gradients on
the same packed micro-batch, so no second copy of the base is held.

Both sequences of a pair travel as one unit (one row), so every micro-batch holds whole pairs;
a step's loss is the mean over the step's pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from peft import PeftModel

from gpu_runner.training.data import TrainingUnit
from gpu_runner.training.model import Placement, reference_model, score_targets
from gpu_runner.training.packing import Batch, Segment

_CHOSEN, _REJECTED = 0, 1


class DpoObjective:
    """The DPO loss with a given ``beta``; metrics include the reward margin and accuracy."""

    unit_width: int = 2
    stat_names: tuple[str, ...] = (
        "loss_sum",
        "pairs",
        "margin_sum",
        "margin_positive",
        "chosen_reward_sum",
        "rejected_reward_sum",
        "correct",
        "targets",
        "tokens",
    )

    def __init__(self, beta: float) -> None:
        self.beta = beta

    def segments(self, index: int, unit: TrainingUnit) -> list[Segment]:
        chosen, rejected = unit.sequences
        return [
            Segment(chosen.input_ids, chosen.trained, 2 * index + _CHOSEN),
            Segment(rejected.input_ids, rejected.trained, 2 * index + _REJECTED),
        ]

    def normalizer(self, units: Sequence[TrainingUnit]) -> float:
        return float(max(1, len(units)))

    def loss(
        self, model: PeftModel, batch: Batch, placement: Placement, normalizer: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad(), reference_model(model):
            reference = score_targets(model, batch, placement)
        policy = score_targets(model, batch, placement)
        owners, position = torch.unique(policy.owners, return_inverse=True)
        if owners.numel() % 2 or not bool(((owners[0::2] + 1) == owners[1::2]).all()):
            raise RuntimeError("a DPO micro-batch holds half a pair")
        policy_sums = _sum_by(policy.log_probs, position, owners.numel()).view(-1, 2)
        reference_sums = _sum_by(reference.log_probs, position, owners.numel()).view(-1, 2)
        rewards = self.beta * (policy_sums - reference_sums)
        margins = rewards[:, _CHOSEN] - rewards[:, _REJECTED]
        losses = -F.logsigmoid(margins)
        chosen_tokens = policy.owners % 2 == _CHOSEN
        detached = rewards.detach().double()
        stats = torch.stack(
            [
                losses.detach().double().sum(),
                torch.tensor(float(margins.numel()), dtype=torch.float64, device=margins.device),
                margins.detach().double().sum(),
                (margins.detach() > 0).double().sum(),
                detached[:, _CHOSEN].sum(),
                detached[:, _REJECTED].sum(),
                policy.correct[chosen_tokens].double().sum(),
                chosen_tokens.double().sum(),
                torch.tensor(float(batch.n_tokens), dtype=torch.float64, device=margins.device),
            ]
        )
        return losses.sum() / normalizer, stats

    def metrics(self, stats: Sequence[float], prefix: str) -> dict[str, float]:
        loss_sum, pairs, margin_sum, positive, chosen, rejected, correct, targets, _ = stats
        if pairs == 0:
            return {}
        return {
            f"{prefix}loss": loss_sum / pairs,
            f"{prefix}mean_token_accuracy": correct / max(targets, 1.0),
            f"{prefix}reward_margin": margin_sum / pairs,
            f"{prefix}reward_accuracy": positive / pairs,
            f"{prefix}chosen_reward": chosen / pairs,
            f"{prefix}rejected_reward": rejected / pairs,
        }


def _sum_by(values: torch.Tensor, position: torch.Tensor, n: int) -> torch.Tensor:
    return torch.zeros(n, dtype=values.dtype, device=values.device).index_add(0, position, values)
