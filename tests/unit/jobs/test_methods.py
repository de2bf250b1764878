"""A job's method through every layer: HTTP body → domain request → row → domain → wire."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.jobs.method_columns import method_columns, method_of
from service.jobs.methods import (
    DpoHyperparameters,
    DpoSpec,
    Hyperparameters,
    MethodSpec,
    ReinforcementSpec,
    ResolvedHyperparameters,
    SupervisedSpec,
)
from service.jobs.records import JobRecord
from service.jobs.schemas import FineTuningJobObject, JobCreate
from service.jobs.state_machine import JobStatus

BODY = {"model": "ftapi/tiny-chatml", "training_file": "file-abc"}
AUTO = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}


def _job(method: MethodSpec, status: JobStatus = JobStatus.VALIDATING_FILES) -> JobRecord:
    return JobRecord(
        id="ftjob-abc",
        project_id="proj_abc",
        organization_id="org-abc",
        model="ftapi/tiny-chatml",
        training_file="file-abc",
        validation_file=None,
        suffix=None,
        seed=7,
        method=method,
        integrations=None,
        metadata=None,
        status=status,
        created_at=1_700_000_000,
        created_us=1_700_000_000_000_000,
    )


def _stored(method: MethodSpec) -> MethodSpec:
    """The method as the store writes it to its row and reads it back."""
    return method_of(method_columns(method)["method_json"])


def _wire(method: MethodSpec) -> dict[str, Any]:
    """The ``method`` and ``hyperparameters`` of the job's wire shape, as JSON sends them."""
    sent = json.loads(FineTuningJobObject.of(_job(method)).model_dump_json())
    return {"method": sent["method"], "hyperparameters": sent["hyperparameters"]}


def _method(body: dict[str, Any]) -> MethodSpec:
    method = JobCreate.model_validate(BODY | body).to_domain().method
    assert isinstance(method, MethodSpec)
    return method


def test_an_auto_supervised_job_round_trips_to_the_same_wire_shape() -> None:
    method = _method({})

    assert method == SupervisedSpec(Hyperparameters(**AUTO))
    assert _stored(method) == method
    assert _wire(_stored(method)) == {
        "method": {"type": "supervised", "supervised": {"hyperparameters": AUTO}},
        "hyperparameters": {
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
            "n_epochs": "auto",
        },
    }


def test_a_dpo_job_keeps_its_beta_through_every_layer() -> None:
    method = _method(
        {
            "method": {
                "type": "dpo",
                "dpo": {"hyperparameters": {"n_epochs": 2, "beta": 1, "batch_size": "auto"}},
            }
        }
    )

    assert method == DpoSpec(
        DpoHyperparameters(n_epochs=2, batch_size="auto", learning_rate_multiplier="auto", beta=1.0)
    )
    assert _stored(method) == method
    wire = _wire(_stored(method))
    assert wire["method"] == {
        "type": "dpo",
        "dpo": {
            "hyperparameters": {
                "n_epochs": 2,
                "batch_size": "auto",
                "learning_rate_multiplier": "auto",
                "beta": 1.0,
            }
        },
    }
    assert wire["hyperparameters"] == {
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
        "n_epochs": 2,
    }


def test_resolved_numbers_replace_auto_in_the_row_and_on_the_wire() -> None:
    requested = _method({"method": {"type": "dpo"}})

    resolved = requested.resolve(n_examples=12)

    assert resolved.hyperparameters.numbers() == ResolvedHyperparameters(
        n_epochs=8, batch_size=1, learning_rate_multiplier=1.0, beta=0.1
    )
    columns = method_columns(resolved)
    assert json.loads(columns["hyperparameters_json"]) == {
        "n_epochs": 8,
        "batch_size": 1,
        "learning_rate_multiplier": 1.0,
    }
    assert _stored(resolved) == resolved
    assert _wire(_stored(resolved)) == {
        "method": {
            "type": "dpo",
            "dpo": {
                "hyperparameters": {
                    "n_epochs": 8,
                    "batch_size": 1,
                    "learning_rate_multiplier": 1.0,
                    "beta": 0.1,
                }
            },
        },
        "hyperparameters": {"batch_size": 1, "learning_rate_multiplier": 1.0, "n_epochs": 8},
    }


def test_the_row_keeps_the_json_it_always_had() -> None:
    method = _method({"method": {"type": "supervised", "supervised": {}}})

    columns = method_columns(method.resolve(n_examples=1000))

    assert columns == {
        "method_json": '{"type": "supervised", "supervised": {"hyperparameters": '
        '{"n_epochs": 3, "batch_size": 2, "learning_rate_multiplier": 1.0}}}',
        "hyperparameters_json": '{"n_epochs": 3, "batch_size": 2, "learning_rate_multiplier": 1.0}',
    }


def test_explicit_numbers_are_kept_when_the_rest_resolves() -> None:
    method = _method(
        {
            "method": {
                "type": "supervised",
                "supervised": {
                    "hyperparameters": {"batch_size": 40, "learning_rate_multiplier": 3}
                },
            }
        }
    )

    assert method.resolve(n_examples=12).hyperparameters.numbers() == ResolvedHyperparameters(
        n_epochs=8, batch_size=40, learning_rate_multiplier=3.0
    )


def test_the_deprecated_top_level_hyperparameters_mean_supervised() -> None:
    method = _method({"hyperparameters": {"n_epochs": 4}})

    assert method == SupervisedSpec(
        Hyperparameters(n_epochs=4, batch_size="auto", learning_rate_multiplier="auto")
    )


def test_reinforcement_is_asked_for_but_is_no_method_a_job_holds() -> None:
    request = JobCreate.model_validate(BODY | {"method": {"type": "reinforcement"}}).to_domain()

    assert request.method == ReinforcementSpec()
    assert not isinstance(request.method, MethodSpec)
    with pytest.raises(ValueError, match="reinforcement"):
        method_of('{"type": "reinforcement", "reinforcement": {"hyperparameters": {}}}')


def test_numbers_refuse_hyperparameters_not_yet_resolved() -> None:
    with pytest.raises(ValueError, match="not resolved"):
        _method({}).hyperparameters.numbers()
    with pytest.raises(ValueError, match="not resolved"):
        DpoHyperparameters(
            n_epochs=1, batch_size=1, learning_rate_multiplier=1.0, beta="auto"
        ).numbers()
