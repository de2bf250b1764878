"""The ``step_metrics.csv`` result file: one row per reported step, in OpenAI's columns."""

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
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS)
    for row in rows:
        writer.writerow(
            [int(row["step"])]
            + [
                "" if _CSV_SOURCES[column] not in row else f"{row[_CSV_SOURCES[column]]:.5f}"
                for column in METRICS_COLUMNS[1:]
            ]
        )
    return out.getvalue().encode()
