"""What ``ftapi jobs watch`` prints of a job's in-job evaluation: a compact line per evaluated
checkpoint as it arrives, and at the end the base-vs-tuned summary with the best checkpoint.

The summary reads the job's ``eval_summary`` extension field. Fields added later (such as the
forgetting figures on a reference set) are shown when present and never required.
"""

from __future__ import annotations

from typing import Any

# Loss-based validation metrics: the status line shows ``valid_loss``; these are not the
# generation graders' scores.
LOSS_METRICS = frozenset({"valid_loss", "valid_mean_token_accuracy"})


def checkpoint_eval_line(data: dict[str, Any]) -> str | None:
    """``step 12  valid_exact_match 0.75  valid_similarity 0.91`` for a metrics event whose data
    has graded (generation) metrics; None for one without."""
    graded = {
        key: value
        for key, value in data.items()
        if key.startswith("valid_") and key not in LOSS_METRICS
    }
    if not graded or "step" not in data:
        return None
    scores = "  ".join(f"{key} {_number(value)}" for key, value in graded.items())
    return f"step {int(data['step'])}  {scores}"


def summary_lines(summary: dict[str, Any] | None) -> list[str]:
    """The before/after table, the forgetting figures, the early stop and the best checkpoint."""
    if not summary:
        return []
    lines = _comparison("eval", summary.get("base"), summary.get("tuned"))
    lines += _comparison("reference", summary.get("reference_base"), summary.get("reference_tuned"))
    forgetting = summary.get("forgetting")
    if isinstance(forgetting, dict):
        figures = ", ".join(f"{key} {_number(value)}" for key, value in forgetting.items())
        lines.append(f"forgetting: {figures}")
    elif forgetting is not None:
        lines.append(f"forgetting: {_number(forgetting)}")
    if summary.get("stopped_early_at") is not None:
        lines.append(f"stopped early at step {summary['stopped_early_at']}")
    best = summary.get("best_checkpoint")
    if isinstance(best, dict):
        lines.append(
            f"best checkpoint: step {best.get('step')} "
            f"({best.get('metric')} {_number(best.get('value'), 4)}): "
            f"{best.get('fine_tuned_model_checkpoint')}"
        )
    return lines


def _comparison(title: str, base: object, tuned: object) -> list[str]:
    """``title  base  tuned`` then one aligned row per metric (``-`` where one side lacks it)."""
    before = base if isinstance(base, dict) else {}
    after = tuned if isinstance(tuned, dict) else {}
    names = list(dict.fromkeys([*before, *after]))
    if not names:
        return []
    rows = [(title, "base", "tuned")] + [
        (name.removeprefix("valid_"), _number(before.get(name)), _number(after.get(name)))
        for name in names
    ]
    width = max(len(row[0]) for row in rows)
    return [f"{name.ljust(width)}  {b:>5}  {a:>5}" for name, b, a in rows]


def _number(value: object, digits: int = 2) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    return f"{value:.{digits}f}"
