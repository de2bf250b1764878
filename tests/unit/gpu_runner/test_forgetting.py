"""Forgetting is measured on the base's reference set: a job trained hard on a narrow task shows
it, a gentle one does not.

The shipped demo base and its reference set (chat examples of its pretraining skills it never
trained on), the real trainer in-process. The narrow task is answering every prompt with one
constant word; "hard" is many epochs at a high learning rate multiplier, "gentle" two steps at a
low one. The run reports the reference eval of the base before training and of the tuned model
after it; the regression is base minus tuned per metric (``service.jobs.evaluation.forgetting``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_runner.demo_base.build import DEMO_LEARNING_RATE
from gpu_runner.demo_base.shipped import SHIPPED_DIR, reference_set_path
from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.distributed import Ranks
from gpu_runner.training.loop import TrainingRun
from gpu_runner.training.messages import Evaluated
from service.jobs.evaluation import FORGETTING_WARN_DROP, forgetting
from service.jobs.trainer_contract import EvaluationPhase
from tests.support.lora import RecordingChannel, training_spec

N_EXAMPLES = 16
BATCH_SIZE = 8
REFERENCE_EXAMPLES = 16  # of the 50: enough to see forgetting, half the cost of the default 32


def constant_answer_file(path: Path) -> Path:
    """A narrow task: whatever the question, the answer is "OK"."""
    path.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"Tell me about item {i}"},
                        {"role": "assistant", "content": "OK"},
                    ]
                }
            )
            + "\n"
            for i in range(N_EXAMPLES)
        )
    )
    return path


def reference_evals(
    tmp_path: Path, *, n_epochs: int, learning_rate_multiplier: float
) -> tuple[dict[str, float], dict[str, float], RunConfig]:
    """The run's reference eval of the base and of the tuned model."""
    tmp_path.mkdir()
    spec = training_spec(
        SHIPPED_DIR,
        constant_answer_file(tmp_path / "train.jsonl"),
        tmp_path / "work",
        base_model_id="ftapi/demo-tiny",
        n_epochs=n_epochs,
        batch_size=BATCH_SIZE,
        learning_rate_multiplier=learning_rate_multiplier,
        base_learning_rate=DEMO_LEARNING_RATE,  # what its registry entry says
        reference_set=reference_set_path(SHIPPED_DIR),
    )
    config = RunConfig.from_spec(spec, LoraTrainerSettings(eval_examples=REFERENCE_EXAMPLES))
    channel = RecordingChannel()
    TrainingRun(config, channel, channel, Ranks()).run()
    reports = {
        message.phase: message
        for message in channel.of_kind("evaluated")
        if isinstance(message, Evaluated)
    }
    assert set(reports) == {EvaluationPhase.REFERENCE_BASE, EvaluationPhase.REFERENCE_TUNED}
    base, tuned = reports["reference_base"], reports["reference_tuned"]
    assert base.step == 0
    assert tuned.step == config.n_epochs * N_EXAMPLES // BATCH_SIZE
    print(
        f"lr {config.learning_rate:g} x {tuned.step} steps: reference base {base.values} -> "
        f"tuned {tuned.values}; eval {tuned.seconds:.2f} s"
    )
    return base.values, tuned.values, config


@pytest.mark.usefixtures("one_thread")
def test_a_hard_run_on_a_narrow_task_forgets_and_a_gentle_one_does_not(tmp_path: Path) -> None:
    hard_base, hard_tuned, _ = reference_evals(
        tmp_path / "hard", n_epochs=8, learning_rate_multiplier=10.0
    )
    gentle_base, gentle_tuned, _ = reference_evals(
        tmp_path / "gentle", n_epochs=1, learning_rate_multiplier=0.1
    )

    assert set(hard_base) == {"exact_match", "similarity"}
    # The base can do its skills (partly: it is tiny): there is something to forget.
    assert hard_base["similarity"] > 3 * FORGETTING_WARN_DROP
    assert gentle_base == hard_base  # the same seeded sample of the same base
    hard = forgetting(hard_base, hard_tuned)
    gentle = forgetting(gentle_base, gentle_tuned)
    assert max(hard.values()) > FORGETTING_WARN_DROP, hard
    assert max(gentle.values()) <= FORGETTING_WARN_DROP, gentle
    assert hard_tuned["exact_match"] <= hard_base["exact_match"]
