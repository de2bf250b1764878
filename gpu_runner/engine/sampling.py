"""How the next token is chosen: greedy at temperature 0, else seeded sampling.

Defaults are vLLM's own (``--generation-config vllm``, as the reference launch runs it):
temperature 1, top_p 1, top_k off. Like vLLM, a temperature below 1e-5 means greedy.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import torch

GREEDY_TEMPERATURE = 1e-5


@dataclass(frozen=True)
class SamplingParams:
    """One request's decoding settings (already validated)."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 or -1: no top-k cut
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stop_token_ids: frozenset[int] = field(default_factory=frozenset)
    ignore_eos: bool = False
    logprobs: int | None = None  # None: no logprobs; else how many top alternatives per token

    @property
    def greedy(self) -> bool:
        """Whether decoding takes the most likely token every step."""
        return self.temperature < GREEDY_TEMPERATURE


class TokenSampler:
    """Picks tokens for one request; its random stream depends on the seed alone."""

    def __init__(self, params: SamplingParams, device: torch.device) -> None:
        self._params = params
        self._generator = torch.Generator(device=device)
        seed = params.seed if params.seed is not None else secrets.randbits(63)
        self._generator.manual_seed(seed)

    def pick(self, logits: torch.Tensor) -> int:
        """The next token id from fp32 ``logits`` over the vocabulary."""
        params = self._params
        if params.greedy:
            return int(torch.argmax(logits).item())
        scores = logits / params.temperature
        if params.top_k > 0 and params.top_k < scores.numel():
            kth = torch.topk(scores, params.top_k).values[-1]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        if params.top_p < 1.0:
            sorted_scores, order = torch.sort(scores, descending=True)
            cumulative = torch.softmax(sorted_scores, dim=-1).cumsum(dim=-1)
            # Drop a token once the tokens before it already cover top_p; the first always stays.
            drop_sorted = cumulative - torch.softmax(sorted_scores, dim=-1) >= params.top_p
            drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
            scores = scores.masked_fill(drop, float("-inf"))
        probabilities = torch.softmax(scores, dim=-1)
        return int(torch.multinomial(probabilities, 1, generator=self._generator).item())
