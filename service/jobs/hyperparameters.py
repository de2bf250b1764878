"""Resolving ``"auto"`` hyperparameters the way OpenAI does (reference §4.7), as pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Auto = Literal["auto"]

MIN_EPOCH_EXAMPLES = 100  # "at least ~100 example passes" rule of the cookbook
MAX_EPOCH_EXAMPLES = 25_000
DEFAULT_EPOCHS = 3
MAX_AUTO_EPOCHS = 25
MAX_BATCH_SIZE = 256
DEFAULT_DPO_BETA = 0.1


@dataclass(frozen=True)
class RequestedHyperparameters:
    """What the caller asked for; ``"auto"`` where they left the choice to us."""

    n_epochs: int | Auto = "auto"
    batch_size: int | Auto = "auto"
    learning_rate_multiplier: float | Auto = "auto"
    beta: float | Auto | None = None  # DPO only


@dataclass(frozen=True)
class ResolvedHyperparameters:
    """Concrete numbers a trainer can use."""

    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    beta: float | None = None


def auto_n_epochs(n_examples: int) -> int:
    """3 epochs, more for tiny sets (≥100 example passes), fewer for huge ones (≤25k)."""
    if n_examples <= 0:
        return DEFAULT_EPOCHS
    if n_examples * DEFAULT_EPOCHS < MIN_EPOCH_EXAMPLES:
        return min(MAX_AUTO_EPOCHS, MIN_EPOCH_EXAMPLES // n_examples)
    if n_examples * DEFAULT_EPOCHS > MAX_EPOCH_EXAMPLES:
        return max(1, MAX_EPOCH_EXAMPLES // n_examples)
    return DEFAULT_EPOCHS


def auto_batch_size(n_examples: int) -> int:
    """About 0.2 % of the examples, at least 1, at most 256."""
    return max(1, min(MAX_BATCH_SIZE, math.ceil(n_examples * 0.002)))


def auto_learning_rate_multiplier(batch_size: int) -> float:
    """Larger batches tolerate a larger step (OpenAI's 0.05/0.1/0.2 ladder, scaled for LoRA)."""
    if batch_size >= 32:
        return 2.0
    if batch_size >= 8:
        return 1.5
    return 1.0


def resolve(requested: RequestedHyperparameters, n_examples: int) -> ResolvedHyperparameters:
    """Concrete hyperparameters for a data set of ``n_examples`` examples."""
    batch_size = (
        auto_batch_size(n_examples) if requested.batch_size == "auto" else requested.batch_size
    )
    n_epochs = auto_n_epochs(n_examples) if requested.n_epochs == "auto" else requested.n_epochs
    multiplier = (
        auto_learning_rate_multiplier(batch_size)
        if requested.learning_rate_multiplier == "auto"
        else requested.learning_rate_multiplier
    )
    beta: float | None = None
    if requested.beta is not None:
        beta = DEFAULT_DPO_BETA if requested.beta == "auto" else requested.beta
    return ResolvedHyperparameters(
        n_epochs=n_epochs,
        batch_size=batch_size,
        learning_rate_multiplier=float(multiplier),
        beta=beta,
    )
