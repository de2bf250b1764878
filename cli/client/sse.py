"""Server-sent events read from the lines of a streamed response (the WHATWG rules we need)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event: its type (``message`` unless named), joined data and id."""

    event: str
    data: str
    id: str | None


def iter_sse(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Events from lines without their line endings; comments (``:``) are skipped."""
    event: str | None = None
    data: list[str] = []
    event_id: str | None = None
    for line in lines:
        if not line:
            if data:
                yield SseEvent(event or "message", "\n".join(data), event_id)
            event, data, event_id = None, [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            event_id = value
    if data:
        yield SseEvent(event or "message", "\n".join(data), event_id)
