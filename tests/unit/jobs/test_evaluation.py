"""What a job may ask of its in-job evaluation, and how its best checkpoint is picked."""

from __future__ import annotations

import pytest

from service.errors import InvalidRequest
from service.graders import GraderInvalid, GraderNotSupported
from service.jobs import messages
from service.jobs.evaluation import (
    DEFAULT_EVAL_GRADERS,
    FORGETTING_WARN_DROP,
    EarlyStopping,
    JobEvaluation,
    best_step,
    forgetting,
    metric_key,
    parse_job_evaluation,
)
from service.jobs.records import EventLevel

CONTAINS = {
    "type": "string_check",
    "name": "Mentions Paris",
    "input": "{{sample.output_text}}",
    "reference": "Paris",
    "operation": "ilike",
}


def test_nothing_asked_is_no_evaluation_and_the_defaults_grade() -> None:
    assert parse_job_evaluation(None, None, has_validation_file=True) is None
    assert JobEvaluation().grader_configs() == DEFAULT_EVAL_GRADERS
    assert JobEvaluation().selection_metric == "valid_loss"


def test_graders_given_replace_the_defaults_and_name_the_metrics() -> None:
    evaluation = parse_job_evaluation(
        [CONTAINS], EarlyStopping(3, "valid_mentions_paris"), has_validation_file=True
    )
    assert evaluation is not None
    assert evaluation.grader_configs() == (CONTAINS,)
    assert evaluation.selection_metric == "valid_mentions_paris"
    assert metric_key("Mentions Paris") == "valid_mentions_paris"
    assert JobEvaluation.from_json(evaluation.to_json()) == evaluation


@pytest.mark.parametrize(
    ("graders", "error", "param"),
    [
        ([{"type": "string_check", "name": "x"}], GraderInvalid, "eval_graders[0].input"),
        (
            [CONTAINS | {"reference": "{{item.answer}}"}],
            GraderInvalid,
            "eval_graders[0].reference",
        ),
        (
            [
                {
                    "type": "score_model",
                    "name": "judge",
                    "model": "gpt-4o",
                    "input": [{"role": "user", "content": "{{sample.output_text}}"}],
                }
            ],
            GraderNotSupported,
            "eval_graders[0].type",
        ),
        ([CONTAINS, CONTAINS | {"name": "mentions-paris"}], GraderInvalid, "eval_graders[1].name"),
        ([CONTAINS | {"name": "loss"}], GraderInvalid, "eval_graders[0].name"),
        ([], InvalidRequest, "eval_graders"),
    ],
)
def test_graders_that_cannot_run_in_a_job_are_refused(
    graders: list[object], error: type[InvalidRequest], param: str
) -> None:
    with pytest.raises(error) as raised:
        parse_job_evaluation(graders, None, has_validation_file=True)
    assert raised.value.param == param


def test_evaluation_options_need_a_validation_file_and_a_known_metric() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_job_evaluation([CONTAINS], None, has_validation_file=False)
    assert raised.value.param == "eval_graders"
    with pytest.raises(InvalidRequest) as raised:
        parse_job_evaluation(None, EarlyStopping(2), has_validation_file=False)
    assert raised.value.param == "early_stopping"
    with pytest.raises(InvalidRequest) as raised:
        parse_job_evaluation(
            None, EarlyStopping(2, "valid_mentions_paris"), has_validation_file=True
        )
    assert raised.value.param == "early_stopping.metric"


def test_a_dpo_job_takes_no_graders_and_stops_on_its_losses_only() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_job_evaluation([CONTAINS], None, has_validation_file=True, generates=False)
    assert raised.value.param == "eval_graders"
    with pytest.raises(InvalidRequest) as raised:
        parse_job_evaluation(
            None, EarlyStopping(2, "valid_exact_match"), has_validation_file=True, generates=False
        )
    assert raised.value.param == "early_stopping.metric"
    assert parse_job_evaluation(
        None, EarlyStopping(2), has_validation_file=True, generates=False
    ) == JobEvaluation(None, EarlyStopping(2))


def test_the_best_checkpoint_is_the_lowest_loss_or_the_highest_reward() -> None:
    checkpoints = [
        (6, {"valid_loss": 1.5, "valid_exact_match": 0.5}),
        (12, {"valid_loss": 1.2, "valid_exact_match": 0.5}),
        (18, {"valid_loss": 1.3, "valid_exact_match": 0.75}),
        (24, {"train_loss": 0.1}),
    ]
    assert best_step(checkpoints, "valid_loss") == 12
    assert best_step(checkpoints, "valid_exact_match") == 18
    assert best_step(checkpoints[:2], "valid_exact_match") == 6  # the earliest among equals
    assert best_step(checkpoints, "valid_similarity") is None


def test_forgetting_is_base_minus_tuned_and_warns_only_above_the_threshold() -> None:
    base = {"exact_match": 0.84, "similarity": 0.9}
    forgot = {"exact_match": 0.41, "similarity": 0.85}
    drops = forgetting(base, forgot | {"new_metric": 0.5})
    assert drops == {"exact_match": 0.43, "similarity": 0.05}  # only metrics both have
    event = messages.forgetting(base, forgot, drops, FORGETTING_WARN_DROP)
    assert event.level is EventLevel.WARN
    assert event.message.startswith(
        "forgetting: reference exact_match 0.84 -> 0.41 (-0.43), similarity 0.90 -> 0.85 (-0.05)"
    )
    kept = {"exact_match": 0.80, "similarity": 0.93}
    gentle = messages.forgetting(base, kept, forgetting(base, kept), FORGETTING_WARN_DROP)
    assert gentle.level is EventLevel.INFO
    assert gentle.message == (
        "forgetting: reference exact_match 0.84 -> 0.80 (-0.04), similarity 0.90 -> 0.93 (+0.03)"
    )
