"""In-job evaluation by generation: the cache-less greedy decode answers what transformers' own
``generate`` answers (in-process, CPU); early stopping's count; the metrics CSV's eval columns.
A whole job's evaluation and early stopping are tested through the SDK (tests/e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_runner.gpu_worker.step_metrics import step_metrics_csv
from gpu_runner.training.checkpoint import read_loop_state
from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.distributed import Ranks
from gpu_runner.training.loop import TrainingRun, _EarlyStopping
from service.jobs.evaluation import DEFAULT_EVAL_GRADERS
from tests.support.lora import RecordingChannel, greedy_reply, phrase_jsonl, training_spec


@pytest.fixture
def validation_file(tmp_path: Path) -> Path:
    path = tmp_path / "valid.jsonl"
    path.write_bytes(phrase_jsonl(8, offset=500))
    return path


def _run(
    model_dir: Path, training: Path, validation: Path, work: Path, **overrides: object
) -> tuple[TrainingRun, RecordingChannel]:
    settings = overrides.pop("settings", LoraTrainerSettings(base_learning_rate=3e-3))
    assert isinstance(settings, LoraTrainerSettings)
    spec = training_spec(
        model_dir,
        training,
        work,
        validation_file=validation,
        eval_graders=DEFAULT_EVAL_GRADERS,
        **overrides,
    )
    channel = RecordingChannel()
    return TrainingRun(RunConfig.from_spec(spec, settings), channel, channel, Ranks()), channel


def test_the_greedy_decode_answers_as_transformers_generate_does(
    learnable_model: Path, phrase_file: Path, validation_file: Path, tmp_path: Path
) -> None:
    run, _ = _run(learnable_model, phrase_file, validation_file, tmp_path / "work")
    evaluation = run.generation_eval
    assert evaluation is not None
    assert len(evaluation.examples) == 8
    answers = evaluation.answers(run.model, run.placement, evaluation.examples[:2])
    for example, answer in zip(evaluation.examples, answers, strict=False):
        limit = example.max_new_tokens
        assert answer == greedy_reply(learnable_model, None, example.prompt_text, limit)


def test_early_stopping_counts_evaluations_without_improvement() -> None:
    loss = _EarlyStopping(patience=2, metric="valid_loss")
    assert [loss.stops_after({"valid_loss": v}) for v in (3.0, 2.0, 2.5, 1.9, 2.0, 1.95)] == [
        False,
        False,
        False,
        False,
        False,
        True,
    ]
    reward = _EarlyStopping(patience=1, metric="valid_exact_match")
    assert not reward.stops_after({"valid_loss": 1.0})  # an evaluation without the metric
    assert not reward.stops_after({"valid_exact_match": 0.5})
    assert reward.stops_after({"valid_exact_match": 0.5})  # equal is no improvement


def test_the_metrics_csv_adds_a_column_per_eval_metric() -> None:
    rows = [
        {"step": 1.0, "train_loss": 2.0},
        {"step": 2.0, "train_loss": 1.5, "valid_loss": 1.7, "valid_exact_match": 0.25},
    ]
    lines = step_metrics_csv(rows).decode().splitlines()
    assert lines == [
        "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy,valid_exact_match",
        "1,2.00000,,,,",
        "2,1.50000,,1.70000,,0.25000",
    ]
    plain = step_metrics_csv([{"step": 1.0, "train_loss": 2.0}]).decode().splitlines()
    assert plain[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"


def test_a_resumed_run_continues_the_early_stopping_count_of_its_checkpoint(
    learnable_model: Path, phrase_file: Path, validation_file: Path, tmp_path: Path
) -> None:
    settings = LoraTrainerSettings(base_learning_rate=3e-3, eval_every_steps=2)
    early = {"early_stopping_patience": 100, "early_stopping_metric": "valid_exact_match"}
    whole, _ = _run(
        learnable_model,
        phrase_file,
        validation_file,
        tmp_path / "whole",
        settings=settings,
        n_epochs=1,
        **early,
    )
    whole.run()
    assert whole.early_stopping is not None
    counted = whole.early_stopping.state()
    # Evaluated at steps 2 and 4 of 6 without a better exact match at 4: a count worth keeping.
    assert counted["since_best"] == 1, counted
    saved = read_loop_state(whole.config.checkpoints_dir / "step-4")
    assert saved == {"early_stopping": counted}

    resumed, _ = _run(
        learnable_model,
        phrase_file,
        validation_file,
        tmp_path / "resumed",
        settings=settings,
        n_epochs=1,
        resume_from=whole.config.checkpoints_dir / "step-2",
        **early,
    )
    resumed.run()
    assert resumed.early_stopping is not None
    assert resumed.early_stopping.state() == counted
