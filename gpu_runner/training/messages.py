"""What a training process tells its parent: one JSON object per line on its message pipe.

    {"kind": "started", "total_steps": 40, "n_examples": 120}
    {"kind": "metrics", "step": 3, "total_steps": 40, "values": {"train_loss": 1.2, ...}}
    {"kind": "checkpoint", "step": 20, "directory": "/…/step-20", "values": {...}}
    {"kind": "evaluated", "phase": "base", "step": 0, "values": {"valid_exact_match": 0.1}}
    {"kind": "stopped", "step": 20}                      after SIGTERM, its checkpoint reported
    {"kind": "finished", "adapter_dir": "/…/adapter", "trained_tokens": 9000, "total_steps": 40,
     "stopped_early_at": null, "parity_probes": {...}}
    {"kind": "failed", "code": "out_of_memory", "message": "…"}

Rank 0 sends everything; other ranks only ever send ``failed``. JSON, not pickle: the parent
never executes what a child wrote.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Started:
    """Data loaded and model built; the run has ``total_steps`` steps."""

    total_steps: int
    n_examples: int
    kind: str = "started"


@dataclass(frozen=True)
class Metrics:
    """Metrics after ``step`` (keys as in OpenAI's metric events)."""

    step: int
    total_steps: int
    values: dict[str, float] = field(default_factory=dict)
    kind: str = "metrics"


@dataclass(frozen=True)
class CheckpointWritten:
    """A complete checkpoint of ``step`` in ``directory``, now the parent's to store."""

    step: int
    directory: str
    values: dict[str, float] = field(default_factory=dict)
    kind: str = "checkpoint"


@dataclass(frozen=True)
class Evaluated:
    """The in-job generation eval of the base (``phase`` "base", before step 1) or of the model
    the run ends with ("tuned")."""

    phase: str
    step: int
    values: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # the run's generation evals so far took this long, this one included
    kind: str = "evaluated"


@dataclass(frozen=True)
class Stopped:
    """Stopped at ``step`` as asked; the latest checkpoint covers it."""

    step: int
    kind: str = "stopped"


@dataclass(frozen=True)
class Finished:
    """Training done; the adapter is in ``adapter_dir``."""

    adapter_dir: str
    trained_tokens: int
    total_steps: int
    stopped_early_at: int | None = None  # early stopping ended the run after this step
    parity_probes: dict[str, Any] | None = None  # ``ProbeSet.to_json()``
    kind: str = "finished"


@dataclass(frozen=True)
class Failed:
    """Training failed; ``code`` and ``message`` are for the user."""

    code: str
    message: str
    kind: str = "failed"


Message = Started | Metrics | CheckpointWritten | Evaluated | Stopped | Finished | Failed
_KINDS: dict[str, type[Message]] = {
    "started": Started,
    "metrics": Metrics,
    "checkpoint": CheckpointWritten,
    "evaluated": Evaluated,
    "stopped": Stopped,
    "finished": Finished,
    "failed": Failed,
}


def encode(message: Message) -> bytes:
    """One line of the protocol."""
    return json.dumps(asdict(message), separators=(",", ":"), allow_nan=True).encode() + b"\n"


def decode(line: bytes) -> Message:
    """Parse one line; raises ``ValueError`` on anything that is not a message."""
    try:
        raw: Any = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a message line: {line[:200]!r}") from exc
    if not isinstance(raw, dict) or raw.get("kind") not in _KINDS:
        raise ValueError(f"not a message line: {line[:200]!r}")
    try:
        return _KINDS[raw["kind"]](**raw)
    except TypeError as exc:
        raise ValueError(f"malformed {raw['kind']} message: {exc}") from exc


class Channel(Protocol):
    """Where a training run sends its messages."""

    def send(self, message: Message) -> None:
        """Deliver one message."""
        ...


class PipeChannel:
    """Writes messages to a file descriptor (the process's message pipe)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, message: Message) -> None:
        data = encode(message)
        while data:
            written = os.write(self._fd, data)
            data = data[written:]


class SilentChannel:
    """Drops everything but failures (ranks other than 0)."""

    def __init__(self, failures: Channel) -> None:
        self._failures = failures

    def send(self, message: Message) -> None:
        if isinstance(message, Failed):
            self._failures.send(message)
