"""``ftapi evals watch``: a run's progress, items graded of the total and the pass rate so far,
polled until the run ends.

In a terminal a rich progress bar is redrawn in place; piped or logged, a plain status line is
printed when the counts change, at most every ``PLAIN_STATUS_INTERVAL_S`` (and once at the end).
The API's run has no item total, so it is counted from the data source: the inline items, or the
lines of the JSONL file (read once, when it is small enough); otherwise the bar has no end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.client.connection import ApiClient, ApiError

TERMINAL_STATUSES = frozenset({"completed", "failed", "canceled"})
POLL_INTERVAL_S = 0.5
PLAIN_STATUS_INTERVAL_S = 2.0
MAX_COUNTED_FILE_BYTES = 64 * 1024 * 1024


def run_path(eval_id: str, run_id: str) -> str:
    """The run's URL path under ``/v1``."""
    return f"evals/{eval_id}/runs/{run_id}"


def pass_rate_text(passed: int, graded: int) -> str:
    """``75.0%``, or ``-`` while nothing is graded."""
    return "-" if graded == 0 else f"{100 * passed / graded:.1f}%"


def item_total(api: ApiClient, run: dict[str, Any]) -> int | None:
    """How many items the run grades, when its data source says so cheaply."""
    source = (run.get("data_source") or {}).get("source") or {}
    if source.get("type") == "file_content":
        return len(source.get("content") or [])
    if source.get("type") != "file_id":
        return None
    try:
        file = api.get(f"files/{source['id']}")
        if int(file.get("bytes") or 0) > MAX_COUNTED_FILE_BYTES:
            return None
        with api.stream("GET", f"files/{source['id']}/content") as response:
            return sum(1 for line in response.iter_lines() if line.strip())
    except ApiError:  # the file is gone (the run then fails and says so): no total to show
        return None


class RunStatusLine:
    """The counts of the run as last polled, in one line."""

    def __init__(self, run: dict[str, Any], total: int | None) -> None:
        self.run = run
        self.total = total

    @property
    def graded(self) -> int:
        return int((self.run.get("result_counts") or {}).get("total") or 0)

    @property
    def passed(self) -> int:
        return int((self.run.get("result_counts") or {}).get("passed") or 0)

    def line(self) -> str:
        """``graded 12/20  passed 9 (75.0%)  failed 3  errored 0  in_progress``."""
        counts = self.run.get("result_counts") or {}
        total = "?" if self.total is None else str(self.total)
        return (
            f"graded {self.graded}/{total}  passed {self.passed} "
            f"({pass_rate_text(self.passed, self.graded)})  failed {counts.get('failed', 0)}  "
            f"errored {counts.get('errored', 0)}  {self.run['status']}"
        )


def watch_run(api: ApiClient, eval_id: str, run_id: str) -> dict[str, Any]:
    """Follow the run until it is over; the run as it ended."""
    run = api.get(run_path(eval_id, run_id))
    status = RunStatusLine(run, item_total(api, run))

    def poll() -> dict[str, Any]:
        time.sleep(POLL_INTERVAL_S)
        status.run = api.get(run_path(eval_id, run_id))
        return status.run

    if sys.stdout.isatty():
        _watch_live(status, poll)
    else:
        _watch_plain(status, poll)
    return status.run


def wait_for_run(api: ApiClient, eval_id: str, run_id: str) -> dict[str, Any]:
    """Poll the run until it is over, printing nothing (``--json``); the run as it ended."""
    run = api.get(run_path(eval_id, run_id))
    while run["status"] not in TERMINAL_STATUSES:
        time.sleep(POLL_INTERVAL_S)
        run = api.get(run_path(eval_id, run_id))
    return run


def _watch_plain(status: RunStatusLine, poll: Callable[[], dict[str, Any]]) -> None:
    shown, shown_at = "", float("-inf")
    while True:
        line = status.line()
        over = status.run["status"] in TERMINAL_STATUSES
        due = time.monotonic() - shown_at >= PLAIN_STATUS_INTERVAL_S
        if line != shown and (due or over):
            typer.echo(line)
            shown, shown_at = line, time.monotonic()
        if over:
            return
        poll()


def _watch_live(status: RunStatusLine, poll: Callable[[], dict[str, Any]]) -> None:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("graded  pass rate {task.fields[rate]}  {task.fields[status]}"),
        TimeElapsedColumn(),
        console=Console(),
        transient=False,
    ) as progress:
        task = progress.add_task(
            str(status.run["id"]), total=status.total, rate="-", status=status.run["status"]
        )
        while True:
            over = status.run["status"] in TERMINAL_STATUSES
            progress.update(
                task,
                completed=status.graded,
                # A finished run graded what it had; an unknown total becomes known then.
                total=status.graded if over and status.total is None else status.total,
                rate=pass_rate_text(status.passed, status.graded),
                status=status.run["status"],
            )
            if over:
                return
            poll()
