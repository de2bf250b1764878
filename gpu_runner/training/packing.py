"""Rows of token sequences without leakage between them, and the tensors a forward pass takes.

Packing puts several sequences into one row of at most ``row_tokens`` tokens (first-fit
decreasing, so rows come out nearly full). Nothing leaks across sequences in a row:

- ``position_ids`` restart at 0 for every sequence, as if it were alone;
- a token sees only earlier tokens of its own sequence: varlen attention over the batch's
  ``sequence_lengths`` (``attention.varlen_attention``), flash-attn 2 reading the position ids,
  or, for the sdpa and eager kernels, a block-diagonal causal mask (``block_causal_mask``);
- targets never cross a boundary: token ``j`` of a sequence is predicted from position ``j-1`` of
  the same sequence, so a sequence's first token is never a target.

Without packing every unit gets a row of its own (padding-only batching). Either way the rows
of one micro-batch are padded to its longest row; padding attends only to padding and is never
a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

IGNORE_INDEX = -100
_PAD_SEGMENT = -1


@dataclass(frozen=True)
class Segment:
    """One sequence in a row; ``owner`` numbers it for per-sequence sums (DPO)."""

    input_ids: Sequence[int]
    trained: Sequence[int] | Sequence[bool]  # per token: 1/True where the loss covers it
    owner: int


Row = list[Segment]


def plan_rows(units: Sequence[Sequence[Segment]], row_tokens: int, *, packing: bool) -> list[Row]:
    """Place units (segments that must share a row) into rows of at most ``row_tokens`` tokens.

    Deterministic: the same units in the same order always give the same rows.
    """
    lengths = [sum(len(segment.input_ids) for segment in unit) for unit in units]
    for length in lengths:
        if length > row_tokens:
            raise ValueError(f"a unit of {length} tokens does not fit a row of {row_tokens}")
    order = sorted(range(len(units)), key=lambda index: (-lengths[index], index))
    if not packing:
        return [list(units[index]) for index in order]
    rows: list[Row] = []
    free: list[int] = []
    for index in order:
        slot = next((r for r, space in enumerate(free) if space >= lengths[index]), None)
        if slot is None:
            rows.append([])
            free.append(row_tokens)
            slot = len(rows) - 1
        rows[slot].extend(units[index])
        free[slot] -= lengths[index]
    return rows


def micro_batches(rows: Sequence[Row], rows_per_batch: int) -> list[list[Row]]:
    """Consecutive groups of ``rows_per_batch`` rows (longest rows first, so padding stays low)."""
    return [list(rows[i : i + rows_per_batch]) for i in range(0, len(rows), rows_per_batch)]


@dataclass(frozen=True)
class Batch:
    """Tensors of one forward pass, each ``[rows, length]``.

    ``labels[b, i]`` is the token predicted from position ``i`` (or ``IGNORE_INDEX``);
    ``owners[b, i]`` is the segment owner of that target (or -1); ``segment_ids`` tells
    sequences apart for the attention mask.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    segment_ids: torch.Tensor
    labels: torch.Tensor
    owners: torch.Tensor
    n_tokens: int  # real (non-padding) tokens, counted on the host
    # Every sequence's length in row-major order, each row's padding counted as one more.
    sequence_lengths: tuple[int, ...]

    @property
    def n_padded_tokens(self) -> int:
        """Tokens the forward pass computes, padding included."""
        return int(self.input_ids.numel())

    def to(self, device: torch.device) -> Batch:
        """The same batch on ``device``."""
        return Batch(
            self.input_ids.to(device, non_blocking=True),
            self.position_ids.to(device, non_blocking=True),
            self.segment_ids.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            self.owners.to(device, non_blocking=True),
            self.n_tokens,
            self.sequence_lengths,
        )


def collate(rows: Sequence[Row], pad_token_id: int) -> Batch:
    """Lay rows out as tensors padded to the longest row."""
    length = max(sum(len(segment.input_ids) for segment in row) for row in rows)
    shape = (len(rows), length)
    input_ids = torch.full(shape, pad_token_id, dtype=torch.long)
    position_ids = torch.zeros(shape, dtype=torch.long)
    segment_ids = torch.full(shape, _PAD_SEGMENT, dtype=torch.long)
    labels = torch.full(shape, IGNORE_INDEX, dtype=torch.long)
    owners = torch.full(shape, -1, dtype=torch.long)
    sequence_lengths: list[int] = []
    n_tokens = 0
    for b, row in enumerate(rows):
        offset = 0
        for number, segment in enumerate(row):
            ids = torch.as_tensor(list(segment.input_ids), dtype=torch.long)
            n = len(ids)
            end = offset + n
            input_ids[b, offset:end] = ids
            position_ids[b, offset:end] = torch.arange(n)
            segment_ids[b, offset:end] = number
            # Target of position i is token i+1 of the same segment, where that token is trained.
            trained_next = torch.as_tensor(list(segment.trained[1:]), dtype=torch.bool)
            targets = torch.where(trained_next, ids[1:], IGNORE_INDEX)
            labels[b, offset : end - 1] = targets
            owners[b, offset : end - 1] = torch.where(trained_next, segment.owner, -1)
            sequence_lengths.append(n)
            offset = end
        position_ids[b, offset:] = torch.arange(length - offset)
        if offset < length:
            sequence_lengths.append(length - offset)
        n_tokens += offset
    return Batch(
        input_ids, position_ids, segment_ids, labels, owners, n_tokens, tuple(sequence_lengths)
    )


def block_causal_mask(segment_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """An additive ``[rows, 1, length, length]`` mask: 0 where attention is allowed, else -inf-ish.

    Padding forms a segment of its own, so no row of the mask is empty (an empty row would make
    the softmax NaN).
    """
    length = segment_ids.shape[1]
    same = segment_ids[:, None, :, None] == segment_ids[:, None, None, :]
    causal = torch.ones(length, length, dtype=torch.bool, device=segment_ids.device).tril()
    allowed = same & causal
    mask = torch.zeros(allowed.shape, dtype=dtype, device=segment_ids.device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)
