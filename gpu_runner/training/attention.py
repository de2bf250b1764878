"""Variable-length attention over packed rows: each sequence attends only to itself, and no
work is spent on the pairs of tokens a block-diagonal mask would throw away.

A packed row of ``L`` tokens holding sequences of lengths ``l_i`` needs ``sum(l_i²)`` attention
scores, not the ``L²`` a dense ``[L, L]`` mask makes SDPA compute (and the mask itself forces
the masked kernel). The kernel is registered with transformers' ``AttentionInterface`` under
``VARLEN_ATTENTION``; the model then builds no mask at all, and ``score_targets`` passes each
batch's ``SequenceLayout`` through the decoder's keyword arguments to every attention layer.

- CUDA: ``torch.nn.attention.varlen.varlen_attn`` (flash attention over ``cu_seqlens``, built
  into torch >= 2.10; no flash-attn package needed).
- CPU (or an older torch): one causal SDPA call per sequence. Slicing a ``[rows, heads,
  length, dim]`` tensor along its length is a view, so the loop copies nothing but the output.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface

VARLEN_ATTENTION = "ftapi_varlen"
LAYOUT_KWARG = "sequence_layout"

_cuda_varlen_attn: Callable[..., Any] | None
try:
    from torch.nn.attention.varlen import varlen_attn as _cuda_varlen_attn
except ImportError:  # torch < 2.10: the per-sequence loop serves CUDA too
    _cuda_varlen_attn = None


@dataclass(frozen=True)
class SequenceLayout:
    """Where the sequences of a ``[rows, length]`` batch lie, in row-major token order.

    ``lengths`` cover every token exactly once, padding included (a row's padding is a
    sequence of its own), and no sequence crosses a row boundary.
    """

    lengths: tuple[int, ...]
    cumulative: torch.Tensor | None  # int32 [n + 1] on the device, for the CUDA kernel

    @classmethod
    def of(cls, lengths: Sequence[int], device: torch.device) -> SequenceLayout:
        """The layout of ``lengths``; the offsets tensor only where a CUDA kernel reads it."""
        cumulative = None
        if device.type == "cuda" and _cuda_varlen_attn is not None:
            offsets = [0, *itertools.accumulate(lengths)]
            cumulative = torch.tensor(offsets, dtype=torch.int32).to(device, non_blocking=True)
        return cls(tuple(lengths), cumulative)


def register_varlen_attention() -> None:
    """Make ``attn_implementation=VARLEN_ATTENTION`` loadable (idempotent)."""
    AttentionInterface.register(VARLEN_ATTENTION, varlen_attention)


def varlen_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: ``[rows, heads, length, dim]`` in,
    ``[rows, length, heads, dim]`` out; causal within each sequence of ``sequence_layout``."""
    layout = kwargs.get(LAYOUT_KWARG)
    if not isinstance(layout, SequenceLayout):
        raise ValueError(f"{VARLEN_ATTENTION} attention needs the batch's {LAYOUT_KWARG}")
    if attention_mask is not None:
        raise ValueError(f"{VARLEN_ATTENTION} attention takes no mask: the layout is the mask")
    kernel = _cuda_varlen_attn
    if layout.cumulative is not None and kernel is not None and dropout == 0.0:
        return _flash_varlen(kernel, query, key, value, layout, layout.cumulative, scaling), None
    return _per_sequence(query, key, value, layout, dropout, scaling), None


def _flash_varlen(
    kernel: Callable[..., Any],
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    layout: SequenceLayout,
    cumulative: torch.Tensor,
    scaling: float | None,
) -> torch.Tensor:
    """torch's CUDA varlen flash attention over the flattened ``[tokens, heads, dim]`` batch."""
    rows, heads, length, head_dim = query.shape

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t.transpose(1, 2).reshape(rows * length, t.shape[1], head_dim)

    longest = max(layout.lengths)
    output: torch.Tensor = kernel(
        flat(query),
        flat(key),
        flat(value),
        cumulative,
        cumulative,
        longest,
        longest,
        scale=scaling,
        window_size=(-1, 0),  # causal
        enable_gqa=heads != key.shape[1],
    )
    return output.view(rows, length, heads, head_dim)


def _per_sequence(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    layout: SequenceLayout,
    dropout: float,
    scaling: float | None,
) -> torch.Tensor:
    """One causal SDPA call per sequence, on ``[heads, length, dim]`` views of each row.

    ``unbind`` and ``split`` rather than slicing: their backward is one ``stack``/``cat`` of
    the pieces' gradients, where each slice's backward would zero a whole row first.
    """
    rows, heads, length, _ = query.shape
    per_row = _lengths_per_row(layout.lengths, length)
    if len(per_row) != rows:
        raise ValueError(f"the layout has {len(per_row)} rows of {length} tokens, not {rows}")
    gqa = heads != key.shape[1]
    outputs = []
    for q_row, k_row, v_row, lengths in zip(
        query.unbind(0), key.unbind(0), value.unbind(0), per_row, strict=True
    ):
        pieces = [
            # 4-D, or SDPA on the CPU falls back from its flash kernel to plain matmuls.
            F.scaled_dot_product_attention(
                q[None],
                k[None],
                v[None],
                dropout_p=dropout,
                is_causal=True,
                scale=scaling,
                enable_gqa=gqa,
            )[0]
            for q, k, v in zip(
                torch.split(q_row, lengths, dim=1),
                torch.split(k_row, lengths, dim=1),
                torch.split(v_row, lengths, dim=1),
                strict=True,
            )
        ]
        outputs.append(torch.cat(pieces, dim=1))
    return torch.stack(outputs).transpose(1, 2)


def _lengths_per_row(lengths: Sequence[int], row_length: int) -> list[list[int]]:
    """Split the row-major sequence lengths into rows; a sequence never crosses a row."""
    rows: list[list[int]] = [[]]
    filled = 0
    for n in lengths:
        if filled == row_length:
            rows.append([])
            filled = 0
        rows[-1].append(n)
        filled += n
        if filled > row_length:
            raise ValueError(f"a sequence crosses the end of a row of {row_length} tokens")
    if filled != row_length:
        raise ValueError(f"the last row holds {filled} of {row_length} tokens")
    return rows
