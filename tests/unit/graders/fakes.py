"""Stand-ins for the grader-model seams (pure-logic unit tests only)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from service.graders import GraderModelError, ModelAnswer


@dataclass
class Call:
    model: str
    messages: list[dict[str, str]]
    max_tokens: int | None
    temperature: float | None
    top_p: float | None
    seed: int | None


@dataclass
class ScriptedModels:
    """Answers every chat with ``answer`` (or what ``answer(messages)`` returns), or raises it."""

    answer: str | Callable[[list[dict[str, str]]], str] | Exception
    prompt_tokens: int = 11
    completion_tokens: int = 3
    calls: list[Call] = field(default_factory=list)

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
        self.calls.append(Call(model, messages, max_tokens, temperature, top_p, seed))
        if isinstance(self.answer, Exception):
            raise self.answer
        text = self.answer if isinstance(self.answer, str) else self.answer(messages)
        return ModelAnswer(text, self.prompt_tokens, self.completion_tokens)


class GatedModels:
    """Holds every call until ``release`` is set, counting how many are in flight at once."""

    def __init__(self, *, answer: str, signal_at: int) -> None:
        self.answer = answer
        self.signal_at = signal_at
        self.in_flight = 0
        self.max_in_flight = 0
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

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
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.in_flight >= self.signal_at:
            self.reached.set()
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        return ModelAnswer(self.answer, 5, 1)


@dataclass
class FixedEmbeddings:
    """Embeds each text as the vector ``vectors`` gives it (or raises ``error``)."""

    vectors: dict[str, list[float]]
    error: GraderModelError | None = None

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if self.error is not None:
            raise self.error
        return [self.vectors[text] for text in texts]
