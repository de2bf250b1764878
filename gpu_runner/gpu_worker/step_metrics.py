"""The ``step_metrics.csv`` result file: one row per reported step, in OpenAI's columns, then one
column per in-job eval metric (``valid_<grader>``, an ftapi extension) when the job has any."""

from __future__ import annotations

import csv
import io

METRICS_COLUMNS = (
    "step",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
)
_CSV_SOURCES = {  # CSV column -> metric key the trainer reports
    "train_loss": "train_loss",
    "train_accuracy": "train_mean_token_accuracy",
    "valid_loss": "valid_loss",
    "valid_mean_token_accuracy": "valid_mean_token_accuracy",
}


def step_metrics_csv(rows: list[dict[str, float]]) -> bytes:
    """The CSV of the metrics rows an attempt collected (``step`` plus the trainer's keys)."""
    sources = dict(_CSV_SOURCES)
    for row in rows:  # eval metrics, in the order they first appear
        for key in row:
            if key.startswith("valid_") and key not in sources:
                sources[key] = key
    columns = [*METRICS_COLUMNS, *(key for key in sources if key not in METRICS_COLUMNS)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            [int(row["step"])]
            + [
                "" if sources[column] not in row else f"{row[sources[column]]:.5f}"
                for column in columns[1:]
            ]
        )
    return out.getvalue().encode()
