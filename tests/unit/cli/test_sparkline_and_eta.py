"""The loss sparkline and the ETA of ``ftapi jobs watch``, and the status line they make."""

from __future__ import annotations

import pytest

from cli.client.eta import StepEta
from cli.client.sparkline import BLOCKS, sparkline
from cli.client.units import format_duration
from cli.client.watch import TrainingStatus


def test_a_falling_loss_draws_a_falling_line_from_the_highest_block_to_the_lowest() -> None:
    assert sparkline([8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]) == "█▇▆▅▄▃▂▁"


def test_values_are_scaled_between_the_series_own_min_and_max() -> None:
    assert sparkline([100.0, 100.5, 101.0]) == "▁▅█"
    assert sparkline([0.0, 1.0, 0.0]) == "▁█▁"


def test_only_the_last_width_values_are_drawn() -> None:
    line = sparkline([float(v) for v in range(100)], width=10)
    assert len(line) == 10
    assert line[0] == BLOCKS[0]
    assert line[-1] == BLOCKS[-1]


def test_a_flat_series_is_a_flat_middle_line_and_nothing_is_nothing() -> None:
    assert sparkline([0.5, 0.5, 0.5]) == "▄▄▄"
    assert sparkline([]) == ""
    assert sparkline([1.0], width=0) == ""


def test_non_finite_values_are_left_out() -> None:
    assert sparkline([float("nan"), 2.0, float("inf"), 1.0]) == "█▁"


def test_eta_is_unknown_until_steps_have_taken_measurable_time() -> None:
    eta = StepEta()
    assert eta.remaining_s() is None
    eta.observe(1, 100, at_s=1000.0)
    assert eta.remaining_s() is None  # one point: no rate yet
    eta.observe(5, 100, at_s=1000.0)
    assert eta.remaining_s() is None  # same second: no measurable time


def test_eta_is_the_steps_left_at_the_rate_measured_so_far() -> None:
    eta = StepEta()
    eta.observe(10, 110, at_s=1000.0)
    eta.observe(30, 110, at_s=1010.0)  # 2 steps/s
    assert eta.steps_per_s() == pytest.approx(2.0)
    assert eta.remaining_s() == pytest.approx(40.0)


def test_eta_restarts_its_measurement_when_a_job_resumes_from_an_earlier_step() -> None:
    eta = StepEta()
    eta.observe(1, 50, at_s=0.0)
    eta.observe(20, 50, at_s=10.0)
    eta.observe(10, 50, at_s=500.0)  # resumed from the checkpoint at step 10, much later
    assert eta.remaining_s() is None
    eta.observe(20, 50, at_s=505.0)  # 2 steps/s since the resume, not since step 1
    assert eta.remaining_s() == pytest.approx(15.0)


def test_eta_is_zero_at_the_last_step() -> None:
    eta = StepEta()
    eta.observe(50, 50, at_s=0.0)
    assert eta.remaining_s() == 0.0


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (44.6, "45s"), (125, "2m05s"), (3720, "1h02m")]
)
def test_durations_read_like_a_clock(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def _metrics(step: int, total: int, loss: float, at_s: int, **extra: float) -> dict[str, object]:
    data = {"step": step, "total_steps": total, "train_loss": loss} | extra
    return {"type": "metrics", "created_at": at_s, "data": data, "message": f"Step {step}"}


def test_the_status_line_shows_step_loss_sparkline_and_eta() -> None:
    status = TrainingStatus()
    assert status.line() == "waiting for the first training step"
    assert not status.observe({"type": "message", "created_at": 0, "data": None, "message": "x"})
    for step, loss in enumerate([2.0, 1.5, 1.0, 0.5], start=1):
        assert status.observe(_metrics(step, 8, loss, at_s=100 + step))
    assert status.line() == "step 4/8  loss 0.5000 █▆▃▁  ETA 4s"
    status.observe(_metrics(5, 8, 0.4, at_s=105, valid_loss=0.7))
    assert "valid 0.7000" in status.line()
