"""Loaded tokenizers, one per base model, shared by every request and background task."""

from __future__ import annotations

import asyncio

from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.models.registry import BaseModelSpec
from service.models.sources import ModelFiles


class TokenizerCache:
    """Loads a model's ``ChatTokenizer`` on first use (in a thread) and keeps it."""

    def __init__(self, files: ModelFiles) -> None:
        self._files = files
        self._loaded: dict[str, ChatTokenizer] = {}
        self._lock = asyncio.Lock()

    async def get(self, spec: BaseModelSpec) -> ChatTokenizer:
        """The tokenizer of ``spec``, loading it once."""
        if (tokenizer := self._loaded.get(spec.id)) is not None:
            return tokenizer
        async with self._lock:
            if (tokenizer := self._loaded.get(spec.id)) is None:
                tokenizer = await asyncio.to_thread(
                    ChatTokenizer.from_model_dir,
                    await self._files.local_dir(spec),
                    max_seq_length=spec.max_seq_length,
                    chat_template=spec.chat_template,
                )
                self._loaded[spec.id] = tokenizer
            return tokenizer
