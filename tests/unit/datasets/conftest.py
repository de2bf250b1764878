"""Tokenizers of the tiny models for the dataset tests (models come from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from tests.support.tiny_model import CHAT_TEMPLATES, TinyModels


@pytest.fixture(scope="session")
def chatml_model_dir(tiny_models: TinyModels) -> Path:
    """The tiny model whose tokenizer speaks ChatML (no BOS, ``<|im_end|>`` ends turns)."""
    return tiny_models.model_dir("chatml")


@pytest.fixture(scope="session")
def llama3_model_dir(tiny_models: TinyModels) -> Path:
    """The tiny model whose tokenizer speaks Llama 3 (BOS in the template and post-processor)."""
    return tiny_models.model_dir("llama3")


@pytest.fixture(scope="session")
def chatml_tokenizer(chatml_model_dir: Path) -> ChatTokenizer:
    """``ChatTokenizer`` of the ChatML tiny model."""
    return ChatTokenizer.from_model_dir(chatml_model_dir)


@pytest.fixture(scope="session")
def llama3_tokenizer(llama3_model_dir: Path) -> ChatTokenizer:
    """``ChatTokenizer`` of the Llama 3 tiny model."""
    return ChatTokenizer.from_model_dir(llama3_model_dir)


@pytest.fixture(scope="session", params=CHAT_TEMPLATES)
def chat_template_name(request: pytest.FixtureRequest) -> str:
    """Each chat template of the tiny models in turn."""
    return str(request.param)


@pytest.fixture(scope="session")
def any_tokenizer(tiny_models: TinyModels, chat_template_name: str) -> ChatTokenizer:
    """The ``ChatTokenizer`` of each tiny model in turn."""
    return ChatTokenizer.from_model_dir(tiny_models.model_dir(chat_template_name))
