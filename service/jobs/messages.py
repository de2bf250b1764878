"""Event wording, as OpenAI writes it (reference §2.4), in one place."""

from __future__ import annotations

from service.jobs.records import EventLevel, EventType, NewEvent


def created(job_id: str) -> NewEvent:
    return NewEvent(f"Created fine-tuning job: {job_id}")


def validating(training_file: str, validation_file: str | None) -> NewEvent:
    if validation_file is None:
        return NewEvent(f"Validating training file: {training_file}")
    return NewEvent(
        f"Validating training file: {training_file} and validation file: {validation_file}"
    )


def files_validated() -> NewEvent:
    return NewEvent("Files validated, moving job to queued state")


def started() -> NewEvent:
    return NewEvent("Fine-tuning job started")


def resumed_from(step: int) -> NewEvent:
    return NewEvent(f"Fine-tuning job resumed from the checkpoint at step {step}")


def step_metrics(step: int, total_steps: int, metrics: dict[str, float]) -> NewEvent:
    parts = [f"training loss={metrics['train_loss']:.4f}"] if "train_loss" in metrics else []
    if "valid_loss" in metrics:
        parts.append(f"validation loss={metrics['valid_loss']:.4f}")
    if "full_valid_loss" in metrics:
        parts.append(f"full validation loss={metrics['full_valid_loss']:.4f}")
    return NewEvent(
        f"Step {step}/{total_steps}: {', '.join(parts)}".rstrip(": "),
        type=EventType.METRICS,
        data={"step": step, "total_steps": total_steps} | metrics,
    )


def checkpoint_saved(model_checkpoint: str, step: int) -> NewEvent:
    return NewEvent(f"Checkpoint created at step {step}: {model_checkpoint}")


def model_created(model: str) -> NewEvent:
    return NewEvent(f"New fine-tuned model created: {model}")


def succeeded() -> NewEvent:
    return NewEvent("The job has successfully completed")


def failed(message: str) -> NewEvent:
    return NewEvent(f"The job failed: {message}", level=EventLevel.ERROR)


def cancelled() -> NewEvent:
    return NewEvent("Fine-tuning job cancelled")


def paused() -> NewEvent:
    return NewEvent("Fine-tuning job paused")


def resumed() -> NewEvent:
    return NewEvent("Fine-tuning job resumed; moving job to queued state")


def requeued(reason: str) -> NewEvent:
    return NewEvent(f"Fine-tuning job re-queued: {reason}", level=EventLevel.WARN)


def _metric_name(key: str) -> str:
    return key.removeprefix("valid_")


def base_evaluated(values: dict[str, float]) -> NewEvent:
    """ftapi: the in-job evaluation of the base model, before training."""
    scores = ", ".join(f"{_metric_name(k)} {v:.2f}" for k, v in values.items())
    return NewEvent(f"eval: base model: {scores}", data={"phase": "base", "metrics": values})


def eval_comparison(base: dict[str, float], tuned: dict[str, float], step: int) -> NewEvent:
    """ftapi: base vs tuned, one line (``eval: exact_match 0.05 -> 0.95, …``)."""
    parts = [
        f"{_metric_name(key)} {base[key]:.2f} -> {value:.2f}"
        if key in base
        else f"{_metric_name(key)} {value:.2f}"
        for key, value in tuned.items()
    ]
    return NewEvent(
        f"eval: {', '.join(parts)}",
        data={"phase": "tuned", "step": step, "base": base, "tuned": tuned},
    )


def reference_evaluated(values: dict[str, float]) -> NewEvent:
    """ftapi: the base model on its reference set, before training (forgetting's baseline)."""
    scores = ", ".join(f"{key} {value:.2f}" for key, value in values.items())
    return NewEvent(
        f"forgetting: reference set, base model: {scores}",
        data={"phase": "reference_base", "metrics": values},
    )


def forgetting(
    base: dict[str, float], tuned: dict[str, float], drops: dict[str, float], warn_drop: float
) -> NewEvent:
    """ftapi: base vs tuned on the reference set (``forgetting: reference exact_match 0.84 ->
    0.41 (-0.43)``); a warning when a metric dropped by more than ``warn_drop``."""
    parts = [
        f"{key} {base[key]:.2f} -> {value:.2f} ({-drops[key]:+.2f})"
        if key in drops
        else f"{key} {value:.2f}"
        for key, value in tuned.items()
    ]
    forgot = any(drop > warn_drop for drop in drops.values())
    return NewEvent(
        f"forgetting: reference {', '.join(parts)}"
        + (f" (a drop above {warn_drop:.2f})" if forgot else ""),
        level=EventLevel.WARN if forgot else EventLevel.INFO,
        data={
            "phase": "reference_tuned",
            "base": base,
            "tuned": tuned,
            "forgetting": drops,
            "warn_drop": warn_drop,
        },
    )


def stopped_early(step: int, total_steps: int, metric: str, patience: int) -> NewEvent:
    """ftapi: early stopping ended training."""
    return NewEvent(
        f"Stopped early at step {step}/{total_steps}: {metric} did not improve for {patience} "
        "evaluations",
        data={"stopped_early_at": step, "total_steps": total_steps, "metric": metric},
    )


def best_checkpoint(model_checkpoint: str, step: int, metric: str, value: float) -> NewEvent:
    """ftapi: which checkpoint the selection metric picks."""
    return NewEvent(
        f"Best checkpoint: step {step} ({metric}={value:.4f}): {model_checkpoint}",
        data={"step": step, "metric": metric, "value": value, "model": model_checkpoint},
    )
