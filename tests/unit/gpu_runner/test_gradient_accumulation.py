"""Gradient accumulation: however a step is split into micro-batches, the update is the same."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.data import TrainingUnit, load_training_data
from gpu_runner.training.loop import accumulate_gradients
from gpu_runner.training.model import (
    Placement,
    choose_placement,
    load_lora_model,
    score_targets,
    trainable_parameters,
)
from gpu_runner.training.objectives import SupervisedObjective
from gpu_runner.training.packing import collate
from service.datasets.for_gpu_runner import ChatTokenizer
from tests.support.lora import training_spec, varied_chat_jsonl

ROW_TOKENS = 256


@dataclass(frozen=True)
class Step:
    """One step's worth of examples of varied lengths, and how to train on them."""

    config: RunConfig
    placement: Placement
    units: list[TrainingUnit]


@pytest.fixture
def step(learnable_model: Path, tmp_path: Path) -> Step:
    data_file = tmp_path / "varied.jsonl"
    data_file.write_bytes(varied_chat_jsonl(8))
    spec = training_spec(learnable_model, data_file, tmp_path / "work", max_seq_length=ROW_TOKENS)
    config = RunConfig.from_spec(spec, LoraTrainerSettings(lora_dropout=0.0))
    tokenizer = ChatTokenizer.from_model_dir(learnable_model, max_seq_length=ROW_TOKENS)
    units = load_training_data(data_file, tokenizer, "supervised").units
    return Step(config, choose_placement(config, 0), units)


def _update(
    step: Step, *, packing: bool, rows: int, checkpointing: bool = False
) -> tuple[list[torch.Tensor], list[torch.Tensor], float]:
    """Gradients, parameters after one AdamW step from the same start, and the step loss."""
    config = step.config.model_copy(update={"gradient_checkpointing": checkpointing})
    model = load_lora_model(config, step.placement)
    model.train()
    parameters = trainable_parameters(model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # non-zero LoRA B, so every LoRA weight gets a gradient
        for parameter in parameters:
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    objective = SupervisedObjective()
    stats = accumulate_gradients(
        model,
        objective,
        [objective.segments(i, unit) for i, unit in enumerate(step.units)],
        objective.normalizer(step.units),
        row_tokens=ROW_TOKENS,
        packing=packing,
        rows_per_micro_batch=rows,
        placement=step.placement,
        pad_token_id=0,
    )
    gradients = [p.grad.clone() for p in parameters if p.grad is not None]
    assert len(gradients) == len(parameters)
    torch.optim.AdamW(parameters, lr=1e-3).step()
    after = [parameter.detach().clone() for parameter in parameters]
    return gradients, after, float(stats[0] / stats[2])


def _assert_close(left: list[torch.Tensor], right: list[torch.Tensor]) -> None:
    for a, b in zip(left, right, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_one_by_eight_and_four_by_two_give_the_same_update(step: Step) -> None:
    assert len(step.units) == 8

    grads_1x8, params_1x8, loss_1x8 = _update(step, packing=False, rows=8)
    grads_4x2, params_4x2, loss_4x2 = _update(step, packing=False, rows=2)

    _assert_close(grads_1x8, grads_4x2)
    _assert_close(params_1x8, params_4x2)
    assert loss_1x8 == pytest.approx(loss_4x2, rel=1e-6)


def test_packed_and_padded_steps_give_the_same_update(step: Step) -> None:
    grads_padded, params_padded, _ = _update(step, packing=False, rows=1)
    grads_packed, params_packed, _ = _update(step, packing=True, rows=1)

    _assert_close(grads_padded, grads_packed)
    _assert_close(params_padded, params_packed)


def test_gradient_checkpointing_gives_the_same_gradients(step: Step) -> None:
    grads_plain, _, _ = _update(step, packing=True, rows=2)
    grads_recomputed, _, _ = _update(step, packing=True, rows=2, checkpointing=True)

    _assert_close(grads_plain, grads_recomputed)


def test_the_data_would_expose_a_mean_of_per_batch_means(step: Step) -> None:
    """The examples' trained-token counts differ enough that the naive loss is another loss."""
    model = load_lora_model(step.config, step.placement)
    objective = SupervisedObjective()
    sums, counts = [], []
    for start in range(0, 8, 2):
        rows = [objective.segments(i, step.units[i]) for i in (start, start + 1)]
        with torch.no_grad():
            scores = score_targets(model, collate(rows, 0), step.placement)
        sums.append(float(-scores.log_probs.sum()))
        counts.append(scores.log_probs.numel())

    token_mean = sum(sums) / sum(counts)
    mean_of_means = sum(s / c for s, c in zip(sums, counts, strict=True)) / len(sums)

    assert len(set(counts)) > 1
    assert abs(token_mean - mean_of_means) > 1e-3
