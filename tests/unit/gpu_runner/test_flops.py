"""The MFU arithmetic the training bench reports."""

from __future__ import annotations

import pytest

from gpu_runner.training.flops import (
    H100_BF16_DENSE_TFLOPS,
    model_flops_utilization,
    training_flops,
)


def test_training_costs_six_flops_per_parameter_and_token() -> None:
    assert training_flops(1_000_000_000, 2048) == 6 * 1e9 * 2048
    assert training_flops(0, 10) == 0.0


def test_mfu_of_a_one_billion_model_on_an_h100() -> None:
    # 1e9 parameters at 65,925 tokens/s is 3.96e14 FLOP/s: 40% of 989 TFLOP/s.
    mfu = model_flops_utilization(1_000_000_000, 65_925, 1.0, H100_BF16_DENSE_TFLOPS)
    assert mfu == pytest.approx(0.40, abs=1e-4)
    assert model_flops_utilization(10, 20, 2.0, 1e-12) == pytest.approx(600.0)


@pytest.mark.parametrize(
    ("parameters", "tokens", "seconds", "peak"),
    [(-1, 1, 1.0, 1.0), (1, -1, 1.0, 1.0), (1, 1, 0.0, 1.0), (1, 1, 1.0, 0.0)],
)
def test_nonsense_inputs_are_refused(
    parameters: int, tokens: int, seconds: float, peak: float
) -> None:
    with pytest.raises(ValueError, match=r"must be positive|never negative"):
        model_flops_utilization(parameters, tokens, seconds, peak)
