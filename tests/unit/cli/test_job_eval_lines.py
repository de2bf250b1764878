"""What ``ftapi jobs watch`` prints of a job's in-job evaluation (pure formatting)."""

from __future__ import annotations

from cli.client.job_eval import checkpoint_eval_line, summary_lines


def test_a_metrics_event_with_graded_scores_is_one_compact_line() -> None:
    data = {"step": 12, "train_loss": 0.5, "valid_loss": 0.61, "valid_exact_match": 0.75,
            "valid_similarity": 0.912}  # fmt: skip
    assert checkpoint_eval_line(data) == "step 12  valid_exact_match 0.75  valid_similarity 0.91"


def test_loss_only_metrics_are_no_eval_line() -> None:
    data = {"step": 3, "train_loss": 0.5, "valid_loss": 0.6, "valid_mean_token_accuracy": 0.4}
    assert checkpoint_eval_line(data) is None


def test_the_summary_shows_forgetting_figures_only_when_present() -> None:
    summary = {
        "base": {"valid_exact_match": 0.0, "valid_similarity": 0.3},
        "tuned": {"valid_exact_match": 0.75},
        "stopped_early_at": 8,
        "best_checkpoint": {"step": 8, "metric": "valid_loss", "value": 0.5,
                            "fine_tuned_model_checkpoint": "ft:m:o::ftjob-1:ckpt-step-8"},
    }  # fmt: skip
    plain = [
        "eval          base  tuned",
        "exact_match   0.00   0.75",
        "similarity    0.30      -",
        "stopped early at step 8",
        "best checkpoint: step 8 (valid_loss 0.5000): ft:m:o::ftjob-1:ckpt-step-8",
    ]
    assert summary_lines(summary) == plain
    forgetting = summary | {
        # The reference set's metrics carry no ``valid_`` prefix, as the runner reports them.
        "reference_base": {"similarity": 0.8},
        "reference_tuned": {"similarity": 0.6},
        "forgetting": {"similarity": 0.2},
    }
    assert summary_lines(forgetting) == [
        *plain[:3],
        "reference    base  tuned",
        "similarity   0.80   0.60",
        "forgetting: similarity 0.20",
        *plain[3:],
    ]
    assert summary_lines(None) == []
