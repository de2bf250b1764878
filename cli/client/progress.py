"""Progress of a transfer on stderr: a live bar in a terminal, a line per tenth otherwise.

Piped or logged output (CI, ``2> upload.log``) gets plain lines a reader can follow, instead of a
bar redrawn with control characters; stdout stays free for what scripts read (the file id).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cli.client.units import format_bytes

PLAIN_STEPS = 10


class TransferProgress(Protocol):
    """Told how many more bytes went out."""

    def advance(self, n_bytes: int) -> None: ...


class _PlainProgress:
    """``upload train.jsonl: 30% (1.2 MiB of 4.0 MiB)`` at each tenth, on stderr."""

    def __init__(self, label: str, total_bytes: int) -> None:
        self._label = label
        self._total = total_bytes
        self._done = 0
        self._shown_step = -1

    def advance(self, n_bytes: int) -> None:
        self._done += n_bytes
        step = PLAIN_STEPS if self._total == 0 else self._done * PLAIN_STEPS // self._total
        if step > self._shown_step:
            self._shown_step = step
            percent = step * 100 // PLAIN_STEPS
            typer.echo(
                f"{self._label}: {percent}% "
                f"({format_bytes(self._done)} of {format_bytes(self._total)})",
                err=True,
            )


class _BarProgress:
    def __init__(self, progress: Progress, total_bytes: int, label: str) -> None:
        self._progress = progress
        self._task = progress.add_task(label, total=total_bytes)

    def advance(self, n_bytes: int) -> None:
        self._progress.advance(self._task, n_bytes)


@contextmanager
def transfer_progress(label: str, total_bytes: int) -> Iterator[TransferProgress]:
    """Show the progress of sending ``total_bytes`` until the block ends."""
    if not sys.stderr.isatty():
        plain = _PlainProgress(label, total_bytes)
        plain.advance(0)
        yield plain
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as progress:
        yield _BarProgress(progress, total_bytes, label)
