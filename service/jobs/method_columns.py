"""How the job store keeps a job's method: two JSON columns of the job row.

``method_json`` holds OpenAI's ``method`` object (``{"type": t, t: {"hyperparameters": ...}}``)
and is what a job's method is read back from. ``hyperparameters_json`` (NOT NULL) repeats the
hyperparameters every method shares so that rows keep the shape they have always had without a
migration; nothing reads it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from service.jobs.methods import (
    DpoHyperparameters,
    DpoSpec,
    Hyperparameters,
    MethodSpec,
    MethodType,
    SupervisedSpec,
)


def method_columns(method: MethodSpec) -> dict[str, str]:
    """The job row's column values for ``method``."""
    shared = method.hyperparameters
    return {
        "method_json": json.dumps(
            {"type": method.type.value, method.type.value: {"hyperparameters": asdict(shared)}}
        ),
        "hyperparameters_json": json.dumps(
            {
                "n_epochs": shared.n_epochs,
                "batch_size": shared.batch_size,
                "learning_rate_multiplier": shared.learning_rate_multiplier,
            }
        ),
    }


def method_of(method_json: str) -> MethodSpec:
    """The method a job row holds."""
    stored = json.loads(method_json)
    kind = MethodType(stored["type"])
    hyperparameters: dict[str, Any] = stored[kind.value]["hyperparameters"]
    if kind is MethodType.SUPERVISED:
        return SupervisedSpec(Hyperparameters(**hyperparameters))
    if kind is MethodType.DPO:
        return DpoSpec(DpoHyperparameters(**hyperparameters))
    raise ValueError(f"a job row cannot hold method {kind.value!r}: no trainer takes it")
