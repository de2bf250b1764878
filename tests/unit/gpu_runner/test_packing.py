"""Packing: rows without leakage between sequences, and the same loss as one example at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.data import load_training_data
from gpu_runner.training.loop import evaluate
from gpu_runner.training.model import choose_placement, load_lora_model
from gpu_runner.training.objectives import SupervisedObjective
from gpu_runner.training.packing import (
    IGNORE_INDEX,
    Segment,
    block_causal_mask,
    collate,
    micro_batches,
    plan_rows,
)
from service.datasets.for_gpu_runner import ChatTokenizer
from tests.support.lora import training_spec, varied_chat_jsonl


def _segment(length: int, owner: int, trained_from: int = 1) -> Segment:
    ids = [100 + owner * 10 + i for i in range(length)]
    return Segment(ids, [i >= trained_from for i in range(length)], owner)


def test_rows_hold_every_unit_once_and_never_overflow() -> None:
    units = [[_segment(length, owner)] for owner, length in enumerate([5, 9, 3, 7, 2, 8, 4])]

    rows = plan_rows(units, 10, packing=True)

    owners = sorted(segment.owner for row in rows for segment in row)
    assert owners == list(range(7))
    assert all(sum(len(s.input_ids) for s in row) <= 10 for row in rows)
    assert len(rows) == 4  # 38 tokens need at least 4 rows of 10; first-fit decreasing finds 4
    assert rows == plan_rows(units, 10, packing=True)  # deterministic


def test_without_packing_each_unit_has_a_row_longest_first() -> None:
    units = [[_segment(length, owner)] for owner, length in enumerate([3, 9, 5])]

    rows = plan_rows(units, 10, packing=False)

    assert [[segment.owner for segment in row] for row in rows] == [[1], [2], [0]]
    assert [len(group) for group in micro_batches(rows, 2)] == [2, 1]


def test_a_unit_longer_than_a_row_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        plan_rows([[_segment(11, 0)]], 10, packing=True)


def test_collate_restarts_positions_and_never_targets_across_sequences() -> None:
    first, second = _segment(4, 0, trained_from=2), _segment(3, 1, trained_from=1)

    batch = collate([[first, second]], pad_token_id=0)

    assert batch.input_ids.shape == (1, 7)
    assert batch.position_ids.tolist() == [[0, 1, 2, 3, 0, 1, 2]]
    assert batch.segment_ids.tolist() == [[0, 0, 0, 0, 1, 1, 1]]
    ids = list(first.input_ids) + list(second.input_ids)
    # Position i predicts token i+1 of its own sequence; a sequence's last position predicts
    # nothing (the next token belongs to another sequence), and untrained tokens are ignored.
    assert batch.labels.tolist() == [
        [IGNORE_INDEX, ids[2], ids[3], IGNORE_INDEX, ids[5], ids[6], IGNORE_INDEX]
    ]
    assert batch.owners.tolist() == [[-1, 0, 0, -1, 1, 1, -1]]
    assert batch.n_tokens == 7


def test_padding_is_never_a_target_and_positions_stay_in_range() -> None:
    batch = collate([[_segment(5, 0)], [_segment(2, 1)]], pad_token_id=0)

    assert batch.input_ids.shape == (2, 5)
    assert batch.labels[1, 1:].tolist() == [IGNORE_INDEX] * 4
    assert batch.position_ids[1].tolist() == [0, 1, 0, 1, 2]
    assert batch.n_tokens == 7
    assert batch.n_padded_tokens == 10


def test_the_mask_is_block_diagonal_and_causal() -> None:
    segment_ids = torch.tensor([[0, 0, 1, 1, 1, -1]])

    allowed = block_causal_mask(segment_ids, torch.float32)[0, 0] == 0

    expected = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [0, 0, 1, 0, 0, 0],
            [0, 0, 1, 1, 0, 0],
            [0, 0, 1, 1, 1, 0],
            [0, 0, 0, 0, 0, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(allowed, expected)


def test_the_packed_loss_equals_the_loss_of_each_example_alone(
    learnable_model: Path, tmp_path: Path
) -> None:
    data_file = tmp_path / "varied.jsonl"
    data_file.write_bytes(varied_chat_jsonl(12))
    spec = training_spec(learnable_model, data_file, tmp_path / "work", max_seq_length=256)
    config = RunConfig.from_spec(spec, LoraTrainerSettings())
    tokenizer = ChatTokenizer.from_model_dir(learnable_model, max_seq_length=256)
    data = load_training_data(data_file, tokenizer, "supervised")
    placement = choose_placement(config, 0)
    model = load_lora_model(config, placement)
    objective = SupervisedObjective()
    units = [objective.segments(i, unit) for i, unit in enumerate(data.units)]

    def loss_stats(row_tokens: int, packing: bool, rows: int) -> list[float]:
        stats = evaluate(
            model,
            objective,
            units,
            row_tokens=row_tokens,
            packing=packing,
            rows_per_micro_batch=rows,
            placement=placement,
            pad_token_id=0,
        )
        return [float(value) for value in stats]

    packed = loss_stats(256, packing=True, rows=2)
    alone = loss_stats(256, packing=False, rows=1)

    assert packed[0] / packed[2] == pytest.approx(alone[0] / alone[2], rel=1e-5)
    assert packed[1:] == alone[1:]  # same correct-token and target counts
    assert packed[2] == sum(unit.n_targets for unit in data.units)
    # And the same as transformers' own loss on each example alone.
    base = AutoModelForCausalLM.from_pretrained(learnable_model, dtype=torch.float32)
    reference_sum = 0.0
    for unit in data.units:
        (example,) = unit.sequences
        ids = torch.tensor([list(example.input_ids)])
        labels = torch.where(torch.tensor([list(example.trained)], dtype=torch.bool), ids, -100)
        with torch.no_grad():
            mean = base(input_ids=ids, labels=labels).loss
        reference_sum += float(mean) * unit.n_targets
    assert packed[0] == pytest.approx(reference_sum, rel=1e-5)  # LoRA B starts at zero
    assert len(plan_rows(units, 256, packing=True)) < len(units) / 2  # really packed
