"""``ftapi jobs watch``: a job's events as they happen, with step, loss, a sparkline and an ETA.

In a terminal one status line is redrawn in place under the job's messages; piped or logged,
messages print as lines and the status line at most every ``PLAIN_STATUS_INTERVAL_S`` (and
before the next message), so a long job does not flood a log. ``--json`` prints each event as
one JSON line instead. A metrics event with graded validation metrics (an evaluated checkpoint)
also prints as its own line (``step 12  valid_exact_match 0.75  valid_similarity 0.91``).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from cli.client.connection import ApiClient
from cli.client.eta import StepEta
from cli.client.event_stream import follow_job_events
from cli.client.job_eval import checkpoint_eval_line
from cli.client.sparkline import sparkline
from cli.client.tables import format_timestamp
from cli.client.units import format_duration

PLAIN_STATUS_INTERVAL_S = 2.0


class TrainingStatus:
    """What the metrics events so far say: the last step, the loss curve and the time left."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.step: int | None = None
        self.total_steps: int | None = None
        self.valid_loss: float | None = None
        self.eta = StepEta()

    def observe(self, event: dict[str, Any]) -> bool:
        """Take a metrics event; False for any other event."""
        data = event.get("data") or {}
        if event.get("type") != "metrics" or "step" not in data:
            return False
        self.step, self.total_steps = int(data["step"]), int(data.get("total_steps") or 0)
        if "train_loss" in data:
            self.losses.append(float(data["train_loss"]))
        if "valid_loss" in data:
            self.valid_loss = float(data["valid_loss"])
        self.eta.observe(self.step, self.total_steps, float(event["created_at"]))
        return True

    def line(self) -> str:
        """``step 12/40  loss 0.5321 ▇▆▅▄▃▂  valid 0.61  ETA 1m05s``."""
        if self.step is None:
            return "waiting for the first training step"
        parts = [f"step {self.step}/{self.total_steps}"]
        if self.losses:
            parts.append(f"loss {self.losses[-1]:.4f} {sparkline(self.losses)}")
        if self.valid_loss is not None:
            parts.append(f"valid {self.valid_loss:.4f}")
        remaining_s = self.eta.remaining_s()
        parts.append("ETA " + ("-" if remaining_s is None else format_duration(remaining_s)))
        return "  ".join(parts)


def _message_line(event: dict[str, Any]) -> str:
    level = event.get("level", "info")
    marker = "" if level == "info" else f"{level}: "
    return f"{format_timestamp(event.get('created_at'))}  {marker}{event.get('message', '')}"


def watch_job(api: ApiClient, job_id: str, *, json_lines: bool = False) -> dict[str, Any]:
    """Show the job's events until it ends; the job as it ended."""
    if json_lines:
        for event in follow_job_events(api, job_id):
            typer.echo(json.dumps(event, ensure_ascii=False))
    elif sys.stdout.isatty():
        _watch_live(api, job_id)
    else:
        _watch_plain(api, job_id)
    return api.get(f"fine_tuning/jobs/{job_id}")


def _eval_line(event: dict[str, Any]) -> str | None:
    return checkpoint_eval_line(event.get("data") or {}) if event.get("type") == "metrics" else None


def _watch_plain(api: ApiClient, job_id: str) -> None:
    status = TrainingStatus()
    shown_at = float("-inf")
    pending = False
    for event in follow_job_events(api, job_id):
        if not status.observe(event):
            if pending:  # the latest step first, so lines stay in order
                typer.echo(status.line())
                pending = False
            typer.echo(_message_line(event))
            continue
        if (eval_line := _eval_line(event)) is not None:  # its step's line, then its scores
            typer.echo(status.line())
            typer.echo(eval_line)
            shown_at, pending = time.monotonic(), False
            continue
        pending = True
        if time.monotonic() - shown_at >= PLAIN_STATUS_INTERVAL_S:
            typer.echo(status.line())
            shown_at, pending = time.monotonic(), False
    if pending:
        typer.echo(status.line())


def _watch_live(api: ApiClient, job_id: str) -> None:
    status = TrainingStatus()
    console = Console()
    with Live(Text(status.line()), console=console, transient=True, auto_refresh=False) as live:
        for event in follow_job_events(api, job_id):
            if status.observe(event):
                live.update(Text(status.line()), refresh=True)
                if (eval_line := _eval_line(event)) is not None:
                    live.console.print(Text(eval_line))
            else:
                live.console.print(Text(_message_line(event)))
    if status.step is not None:
        console.print(Text(status.line()))
