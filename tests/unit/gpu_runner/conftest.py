"""Fixtures for trainer tests: a learnable tiny model (built once) and toy data files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.support.lora import build_learnable_model, phrase_jsonl, preference_jsonl


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch on one thread: on a shared small CPU two threads wait on each other (10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def learnable_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama (hidden size 256) with the ChatML template."""
    return build_learnable_model(tmp_path_factory.mktemp("learnable") / "model")


@pytest.fixture
def phrase_file(tmp_path: Path) -> Path:
    """24 chat examples that all answer with the same phrase."""
    path = tmp_path / "train.jsonl"
    path.write_bytes(phrase_jsonl(24))
    return path


@pytest.fixture
def preference_file(tmp_path: Path) -> Path:
    """16 preference pairs preferring the phrase."""
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(preference_jsonl(16))
    return path
