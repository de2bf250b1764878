"""The rules that resolve ``"auto"`` hyperparameters the way OpenAI does (reference §4.7), as
pure functions of the training data's size (``service.jobs.methods`` applies them)."""

from __future__ import annotations

import math

MIN_EPOCH_EXAMPLES = 100  # "at least ~100 example passes" rule of the cookbook
MAX_EPOCH_EXAMPLES = 25_000
DEFAULT_EPOCHS = 3
MAX_AUTO_EPOCHS = 25
MAX_BATCH_SIZE = 256
DEFAULT_DPO_BETA = 0.1


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
