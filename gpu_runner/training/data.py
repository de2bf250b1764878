"""Training files to token sequences, and which of them each optimizer step sees.

Tokenization goes through ``ChatTokenizer`` only, the code path the dataset report and preview
use, so what users were shown is what is trained. A *unit* is what must stay together in one
row: one example for supervised training, the chosen and rejected sequences of one pair for DPO.

The order is deterministic: epoch ``e`` visits the units in a permutation drawn from
``(seed, e)`` alone, and step ``s`` takes the next ``batch_size`` of them. So a step number is a
complete data position, which is what makes resuming from a checkpoint exact.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gpu_runner.training.errors import UnusableTrainingDataError
from service.datasets.for_gpu_runner import (
    ChatTokenizer,
    DatasetFormat,
    ExampleIssue,
    IssueSeverity,
    Tokenized,
    TokenizedExample,
    TokenizedPreference,
    detect_format,
    formats_for_method,
    iter_examples,
)

logger = logging.getLogger(__name__)

_READ_CHUNK_BYTES = 1 << 20
_TOKENIZE_BATCH = 512


@dataclass(frozen=True)
class TrainingSequence:
    """One tokenized sequence, stored compactly: 4 bytes per id and 1 per trained flag.

    A data set lives in every rank's memory for the whole run; Python lists of ints would
    take about ten times as much.
    """

    input_ids: array[int]
    trained: bytes  # 1 where the loss covers the token

    @classmethod
    def of(cls, example: TokenizedExample) -> TrainingSequence:
        """The compact form of a tokenizer result."""
        return cls(array("i", example.input_ids), bytes(example.trained))

    @property
    def n_tokens(self) -> int:
        """Tokens in the sequence."""
        return len(self.input_ids)


@dataclass(frozen=True)
class TrainingUnit:
    """Sequences trained together: ``(example,)`` or ``(chosen, rejected)``."""

    sequences: tuple[TrainingSequence, ...]

    @property
    def n_tokens(self) -> int:
        """Tokens the model reads for this unit."""
        return sum(sequence.n_tokens for sequence in self.sequences)

    @property
    def n_targets(self) -> int:
        """Tokens the loss covers; a sequence's first token has no context, so it never counts."""
        return sum(sum(sequence.trained[1:]) for sequence in self.sequences)


@dataclass(frozen=True)
class TrainingData:
    """The usable units of one file, in file order."""

    units: list[TrainingUnit]
    n_dropped: int  # examples tokenization found unusable (reported at upload; skipped here)
    n_truncated: int
    fingerprint: str  # sha256 of the file's bytes: a checkpoint must resume on the same data

    @property
    def n_tokens(self) -> int:
        """Tokens of one pass over the data."""
        return sum(unit.n_tokens for unit in self.units)


def load_training_data(path: Path, tokenizer: ChatTokenizer, method: str) -> TrainingData:
    """Read, tokenize and keep the usable examples of a JSONL file for ``method``."""
    digest = hashlib.sha256()

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as handle:
            while chunk := handle.read(_READ_CHUNK_BYTES):
                digest.update(chunk)
                yield chunk

    units: list[TrainingUnit] = []
    n_dropped = n_truncated = 0
    pending: list[dict[str, object]] = []

    def flush() -> None:
        nonlocal n_dropped, n_truncated
        for tokenized, issues in _tokenize(tokenizer, pending):
            if any(issue.severity is IssueSeverity.ERROR for issue in issues):
                n_dropped += 1
                continue
            unit = _as_unit(tokenized)
            if any(not any(sequence.trained[1:]) for sequence in unit.sequences):
                n_dropped += 1
                continue
            n_truncated += tokenized.truncated
            units.append(unit)
        pending.clear()

    for _line_no, example in iter_examples(chunks(), expected_formats=formats_for_method(method)):
        pending.append(example)
        if len(pending) >= _TOKENIZE_BATCH:
            flush()
    flush()
    if not units:
        raise UnusableTrainingDataError(
            f"{path.name} holds no example that can be trained for method '{method}'."
        )
    if n_dropped:
        logger.warning("skipped %d unusable examples of %s", n_dropped, path.name)
    return TrainingData(units, n_dropped, n_truncated, digest.hexdigest())


def _tokenize(
    tokenizer: ChatTokenizer, examples: Sequence[dict[str, object]]
) -> list[tuple[Tokenized, list[ExampleIssue]]]:
    """Tokenize a batch, one ``tokenize_batch`` call per format present (a file has one)."""
    results: list[tuple[Tokenized, list[ExampleIssue]]] = []
    start = 0
    while start < len(examples):
        example_format = detect_format(examples[start]) or DatasetFormat.CHAT
        end = start
        while end < len(examples) and (detect_format(examples[end]) or example_format) == (
            example_format
        ):
            end += 1
        results += tokenizer.tokenize_batch(examples[start:end], example_format)
        start = end
    return results


def _as_unit(tokenized: Tokenized) -> TrainingUnit:
    if isinstance(tokenized, TokenizedPreference):
        return TrainingUnit(
            (TrainingSequence.of(tokenized.chosen), TrainingSequence.of(tokenized.rejected))
        )
    return TrainingUnit((TrainingSequence.of(tokenized),))


class StepPlan:
    """Which units each optimizer step trains on: ``batch_size`` per step, reshuffled per epoch."""

    def __init__(self, n_units: int, batch_size: int, n_epochs: int, seed: int) -> None:
        if n_units < 1:
            raise ValueError("a step plan needs at least one unit")
        self.n_units = n_units
        self.batch_size = min(batch_size, n_units)
        self.n_epochs = n_epochs
        self.seed = seed
        self.steps_per_epoch = math.ceil(n_units / self.batch_size)
        self.total_steps = self.steps_per_epoch * n_epochs
        self._orders: dict[int, tuple[int, ...]] = {}

    def units_for_step(self, step: int) -> list[int]:
        """Unit indices of step ``step`` (0-based: the step that completes step ``step + 1``)."""
        epoch, index = divmod(step, self.steps_per_epoch)
        order = self._epoch_order(epoch)
        return list(order[index * self.batch_size : (index + 1) * self.batch_size])

    def epoch_of(self, completed_steps: int) -> float:
        """Epochs done after ``completed_steps`` steps."""
        return completed_steps / self.steps_per_epoch

    def is_epoch_end(self, completed_steps: int) -> bool:
        """Whether ``completed_steps`` closes an epoch."""
        return completed_steps % self.steps_per_epoch == 0

    def _epoch_order(self, epoch: int) -> tuple[int, ...]:
        if epoch not in self._orders:
            order = list(range(self.n_units))
            # A private generator seeded from (seed, epoch): no global RNG state is involved.
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)  # noqa: S311 - not crypto
            self._orders = {epoch: tuple(order)}  # keep one epoch: steps run in order
        return self._orders[epoch]
