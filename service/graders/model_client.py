"""The seams through which model-based graders reach models.

``score_model`` and ``label_model`` ask a chat model (``GraderModels``); ``text_similarity`` with
``cosine`` asks an embedding model (``Embeddings``). The package never knows where they run: the
evals service passes in an implementation over ftapi's inference gateway or an operator-configured
OpenAI-compatible endpoint. An implementation raises ``GraderModelError`` when the model cannot
answer (unreachable, a 5xx, a timeout); a run records that as ``model_grader_server_error`` for
the one item, never as a failure of the whole run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ModelAnswer:
    """A chat model's answer and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class GraderModelError(Exception):
    """The grader model was unreachable or failed (a server-side error, not a bad answer)."""


class GraderModels(Protocol):
    """Chat completions for grader models; ``messages`` are ``{"role", "content"}`` dicts."""

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None,
        temperature: float | None,
        top_p: float | None,
        seed: int | None,
    ) -> ModelAnswer: ...


class Embeddings(Protocol):
    """Sentence embeddings for ``cosine``: one vector per text, in order."""

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


class BoundedGraderModels:
    """A ``GraderModels`` that lets at most ``limit`` calls be in flight at once.

    One instance is shared by everything that should share the bound (a run, a project), so a
    run of many items with several model graders each cannot flood the model.
    """

    def __init__(self, models: GraderModels, *, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._models = models
        self._slots = asyncio.Semaphore(limit)
        self.limit = limit

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None,
        temperature: float | None,
        top_p: float | None,
        seed: int | None,
    ) -> ModelAnswer:
        async with self._slots:
            return await self._models.chat(
                model,
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
            )
