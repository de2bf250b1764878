"""Logprobs in vLLM's shapes, from the generation's ``TokenScored`` events.

Completions (OpenAI's legacy shape)::

    {"tokens": [...], "token_logprobs": [...], "top_logprobs": [{token: logprob}, ...],
     "text_offset": [...]}

where each ``top_logprobs`` entry holds the requested number of alternatives plus the chosen
token, as vLLM's does. Chat::

    {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}]}

With vLLM's ``return_tokens_as_token_ids`` every token is named ``token_id:{id}``, so a client
compares ids rather than text that different tokenizers might spell alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gpu_runner.engine.generation import TokenScored

TokenNamer = Callable[[int], str]


def token_namer(token_text: TokenNamer, *, as_token_ids: bool) -> TokenNamer:
    """How tokens are named in logprobs: their text, or ``token_id:{id}``."""
    if as_token_ids:
        return lambda token_id: f"token_id:{token_id}"
    return token_text


def completion_logprobs(scored: Sequence[TokenScored], name: TokenNamer) -> dict[str, Any]:
    """A ``text_completion`` choice's ``logprobs`` object."""
    tokens = [name(item.token_id) for item in scored]
    offsets, position = [], 0
    for token in tokens:
        offsets.append(position)
        position += len(token)
    top = []
    for item, token in zip(scored, tokens, strict=True):
        entry = {name(token_id): logprob for token_id, logprob in item.top}
        entry.setdefault(token, item.logprob)
        top.append(entry)
    return {
        "text_offset": offsets,
        "token_logprobs": [item.logprob for item in scored],
        "tokens": tokens,
        "top_logprobs": top,
    }


def chat_logprobs(scored: Sequence[TokenScored], name: TokenNamer) -> dict[str, Any]:
    """A ``chat.completion`` choice's ``logprobs`` object."""

    def entry(token_id: int, logprob: float) -> dict[str, Any]:
        token = name(token_id)
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    return {
        "content": [
            entry(item.token_id, item.logprob)
            | {"top_logprobs": [entry(token_id, logprob) for token_id, logprob in item.top]}
            for item in scored
        ]
    }
