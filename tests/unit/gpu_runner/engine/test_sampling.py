"""Choosing the next token: greedy at temperature 0, seeded sampling, top-k and top-p cuts."""

from __future__ import annotations

import torch

from gpu_runner.engine.sampling import SamplingParams, TokenSampler

CPU = torch.device("cpu")
LOGITS = torch.tensor([1.0, 3.0, 2.9, 0.5, -1.0])


def draws(params: SamplingParams, count: int = 200) -> list[int]:
    sampler = TokenSampler(params, CPU)
    return [sampler.pick(LOGITS) for _ in range(count)]


def test_temperature_zero_is_greedy() -> None:
    assert set(draws(SamplingParams(max_tokens=1, temperature=0))) == {1}


def test_the_same_seed_draws_the_same_tokens() -> None:
    params = SamplingParams(max_tokens=1, temperature=1.0, seed=7)
    first = draws(params)
    assert first == draws(params)
    assert len(set(first)) > 2  # it really samples


def test_top_k_keeps_the_k_most_likely() -> None:
    assert set(draws(SamplingParams(max_tokens=1, top_k=2, seed=1))) == {1, 2}


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    # softmax(LOGITS): token 1 ≈ 0.45, token 2 ≈ 0.41 — together past 0.8, so only they remain.
    assert set(draws(SamplingParams(max_tokens=1, top_p=0.8, seed=1))) == {1, 2}
    assert set(draws(SamplingParams(max_tokens=1, top_p=0.1, seed=1))) == {1}
