"""The decode loop: one sequence, one token per forward pass, with a KV cache.

Runs on the worker thread inside an adapter scope. It yields text pieces as they become final
(each generated token's ``TokenScored`` first, when the request asked for logprobs) and then one
``GenerationEnd``; it stops at an end-of-sequence or stop token, a stop string,
``max_tokens``, or when ``cancelled`` is set (the client went away or the server is stopping).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch

from gpu_runner.engine.model import ServingModel
from gpu_runner.engine.sampling import SamplingParams, TokenSampler
from gpu_runner.engine.text_stream import TextStream

FinishReason = Literal["stop", "length", "abort"]


@dataclass(frozen=True)
class TextDelta:
    """Output text that is final."""

    text: str


@dataclass(frozen=True)
class TokenScored:
    """A generated token with its logprob and the ``top`` most likely alternatives.

    Logprobs are of the raw fp32 logits (before temperature, top-k or top-p), as vLLM's default
    ``raw_logprobs`` mode reports them; the end-of-sequence token that stops a generation is
    scored too, as vLLM includes it in its output tokens.
    """

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class GenerationEnd:
    """How the generation ended, and what it cost."""

    finish_reason: FinishReason
    stop_reason: str | int | None  # the stop string or stop token id; None for EOS or length
    prompt_tokens: int
    completion_tokens: int


GenerationEvent = TextDelta | TokenScored | GenerationEnd


def generate(
    model: ServingModel,
    prompt_ids: list[int],
    params: SamplingParams,
    decode: Callable[[list[int]], str],
    cancelled: threading.Event,
) -> Iterator[GenerationEvent]:
    """Generate from ``prompt_ids`` with the model's current adapter scope."""
    sampler = TokenSampler(params, model.device)
    text = TextStream(decode, params.stop)
    end_ids = params.stop_token_ids | (frozenset() if params.ignore_eos else model.eos_token_ids)
    cache = model.new_cache()
    next_input = prompt_ids
    generated = 0
    finish_reason: FinishReason = "length"
    stop_reason: str | int | None = None
    with torch.inference_mode():
        while generated < params.max_tokens:
            if cancelled.is_set():
                finish_reason = "abort"
                break
            logits = model.next_token_logits(next_input, cache)
            token_id = sampler.pick(logits)
            generated += 1
            if params.logprobs is not None:
                yield _scored(logits, token_id, params.logprobs)
            if token_id in end_ids:
                finish_reason = "stop"
                stop_reason = token_id if token_id in params.stop_token_ids else None
                break
            piece = text.push(token_id)
            if piece:
                yield TextDelta(piece)
            if text.stopped_by is not None:
                finish_reason, stop_reason = "stop", text.stopped_by
                break
            next_input = [token_id]
    rest = text.finish()
    if rest:
        yield TextDelta(rest)
    yield GenerationEnd(finish_reason, stop_reason, len(prompt_ids), generated)


def _scored(logits: torch.Tensor, token_id: int, top_count: int) -> TokenScored:
    scores = torch.log_softmax(logits, dim=-1)
    top: tuple[tuple[int, float], ...] = ()
    if top_count > 0:
        best = torch.topk(scores, min(top_count, scores.numel()))
        top = tuple(
            (int(index), float(value))
            for index, value in zip(best.indices.tolist(), best.values.tolist(), strict=True)
        )
    return TokenScored(token_id, float(scores[token_id]), top)
