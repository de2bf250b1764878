"""Varlen attention over packed rows equals attention through the dense block-diagonal mask."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gpu_runner.training.attention import (
    LAYOUT_KWARG,
    VARLEN_ATTENTION,
    SequenceLayout,
    varlen_attention,
)
from gpu_runner.training.config import AttentionKind, LoraTrainerSettings, RunConfig
from gpu_runner.training.model import choose_placement
from gpu_runner.training.packing import Segment, block_causal_mask, collate
from tests.support.lora import training_spec


def _batch_layout() -> tuple[torch.Tensor, SequenceLayout]:
    """Two rows: sequences of 5, 3 and 4 tokens, and one of 6 plus 6 tokens of padding."""
    rows = [
        [Segment([1] * 5, [1] * 5, 0), Segment([2] * 3, [1] * 3, 1), Segment([3] * 4, [1] * 4, 2)],
        [Segment([4] * 6, [1] * 6, 3)],
    ]
    batch = collate(rows, pad_token_id=0)
    assert batch.sequence_lengths == (5, 3, 4, 6, 6)
    return batch.segment_ids, SequenceLayout.of(batch.sequence_lengths, torch.device("cpu"))


def test_varlen_attention_matches_the_masked_kernel_forward_and_backward() -> None:
    segment_ids, layout = _batch_layout()
    torch.manual_seed(0)
    heads, kv_heads, head_dim = 4, 2, 8
    query = torch.randn(2, heads, 12, head_dim, requires_grad=True)
    key = torch.randn(2, kv_heads, 12, head_dim, requires_grad=True)
    value = torch.randn(2, kv_heads, 12, head_dim, requires_grad=True)
    weights = torch.randn(2, 12, heads, head_dim)

    output, _ = varlen_attention(
        torch.nn.Module(), query, key, value, None, scaling=0.3, **{LAYOUT_KWARG: layout}
    )
    (output * weights).sum().backward()
    varlen_grads = [t.grad.clone() for t in (query, key, value)]  # type: ignore[union-attr]
    for t in (query, key, value):
        t.grad = None
    mask = block_causal_mask(segment_ids, torch.float32)
    expected = F.scaled_dot_product_attention(
        query, key, value, attn_mask=mask, scale=0.3, enable_gqa=True
    ).transpose(1, 2)
    (expected * weights).sum().backward()

    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-6)
    for got, t in zip(varlen_grads, (query, key, value), strict=True):
        torch.testing.assert_close(got, t.grad, rtol=1e-5, atol=1e-6)


def test_varlen_attention_refuses_to_run_without_its_layout() -> None:
    query = torch.zeros(1, 2, 4, 8)
    with pytest.raises(ValueError, match=LAYOUT_KWARG):
        varlen_attention(torch.nn.Module(), query, query, query, None)


@pytest.mark.parametrize(
    ("setting", "implementation", "needs_mask"),
    [
        (AttentionKind.AUTO, VARLEN_ATTENTION, False),  # on the CPU
        (AttentionKind.VARLEN, VARLEN_ATTENTION, False),
        (AttentionKind.SDPA, "sdpa", True),
        (AttentionKind.EAGER, "eager", True),
    ],
)
def test_the_cpu_placement_picks_the_kernel(
    tmp_path: Path, setting: AttentionKind, implementation: str, needs_mask: bool
) -> None:
    spec = training_spec(tmp_path / "model", tmp_path / "train.jsonl", tmp_path / "work")
    config = RunConfig.from_spec(spec, LoraTrainerSettings(device="cpu", attention=setting))

    placement = choose_placement(config, 0)

    assert placement.attention == implementation
    assert placement.needs_mask is needs_mask
    assert placement.needs_layout is (implementation == VARLEN_ATTENTION)
    assert not placement.quantized
