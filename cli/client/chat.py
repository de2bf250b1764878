"""``ftapi chat MODEL``: talk to a base or fine-tuned model, the answer streamed as it comes.

One question with ``--message``; otherwise a session reading one message per line from stdin
(a terminal, or a pipe) and keeping the conversation, until end of input or ``/exit``.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import httpx
import typer

from cli.client.connection import (
    DEFAULT_BASE_URL,
    ApiClient,
    ApiError,
    ApiKeyOption,
    BaseUrlOption,
    api_session,
)
from cli.client.sse import iter_sse

PROMPT = "> "
EXIT_WORDS = ("/exit", "/quit")
# A slow CPU engine may think for a while before its first token.
_ANSWER_TIMEOUT = httpx.Timeout(10.0, read=300.0)


def stream_answer(api: ApiClient, body: dict[str, Any]) -> str:
    """Send a chat completion with ``stream: true``, print the answer as it arrives, return it."""
    pieces: list[str] = []
    with api.stream(
        "POST", "chat/completions", json=body | {"stream": True}, timeout=_ANSWER_TIMEOUT
    ) as response:
        for sse in iter_sse(response.iter_lines()):
            if sse.data == "[DONE]":
                break
            chunk = json.loads(sse.data)
            if isinstance(chunk.get("error"), dict):
                error = chunk["error"]
                raise ApiError(
                    str(error.get("message")),
                    code=str(error.get("code") or error.get("type")),
                    status_code=response.status_code,
                )
            for choice in chunk.get("choices") or []:
                text = (choice.get("delta") or {}).get("content") or ""
                pieces.append(text)
                typer.echo(text, nl=False)
    typer.echo()
    return "".join(pieces)


def _read_message(interactive: bool) -> str | None:
    """The next non-empty line, or None at the end of input."""
    while True:
        try:
            line = input(PROMPT) if interactive else sys.stdin.readline()
        except EOFError:
            return None
        if not interactive and not line:
            return None
        if line.strip():
            return line.rstrip("\n")


def chat(
    model: Annotated[str, typer.Argument(help="A base or fine-tuned model id.")],
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Ask this once and exit.")
    ] = None,
    system: Annotated[str | None, typer.Option(help="A system message to start with.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Longest answer, in tokens.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Chat with a model: one --message, or a session reading lines from stdin (Ctrl-D ends)."""
    options = {"max_tokens": max_tokens, "temperature": temperature}
    base = {"model": model} | {name: value for name, value in options.items() if value is not None}
    messages = [] if system is None else [{"role": "system", "content": system}]
    with api_session(base_url, api_key) as api:
        if message is not None:
            stream_answer(api, base | {"messages": [*messages, _user(message)]})
            return
        interactive = sys.stdin.isatty()
        failed = False
        while (text := _read_message(interactive)) is not None:
            if text.strip() in EXIT_WORDS:
                break
            try:
                answer = stream_answer(api, base | {"messages": [*messages, _user(text)]})
            except ApiError as exc:  # say so and let the user try again
                typer.echo(f"error: {exc.describe()}", err=True)
                failed = True
                continue
            messages += [_user(text), {"role": "assistant", "content": answer}]
    if failed:
        raise typer.Exit(1)


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}
