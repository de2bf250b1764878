"""A streaming multipart/form-data reader: file parts flow to the caller chunk by chunk.

Litestar's own form parsing spools every file part to a temporary file before the handler runs;
the Files and Uploads routes instead read the request stream once and write straight into the blob
store, so a 1 GB upload costs one pass over the bytes and a bounded amount of memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeAlias

from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from service.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

MAX_TEXT_FIELD_BYTES = 64 * 1024
MAX_PARTS = 32

_Event: TypeAlias = MultipartSegment | bytes | None


@dataclass(frozen=True)
class Part:
    """The headers of one form part; its body is read from the reader that yielded it."""

    name: str
    filename: str | None


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data content type, or a 415/400 naming the problem."""
    media_type, _, params = (content_type or "").partition(";")
    if media_type.strip().lower() != "multipart/form-data":
        raise UnsupportedMediaType(
            "This endpoint expects a multipart/form-data body.", param="Content-Type"
        )
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise InvalidRequest("The multipart/form-data body has no boundary.", param="Content-Type")


class MultipartReader:
    """Iterates the parts of a multipart body; call ``read_text`` or ``iter_body`` for each."""

    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes) -> None:
        try:
            self._parser = PushMultipartParser(boundary, max_segment_count=MAX_PARTS)
        except ParserError as exc:
            raise InvalidRequest(
                f"Invalid multipart boundary: {exc}", param="Content-Type"
            ) from exc
        self._stream = stream
        self._events: deque[_Event] = deque()
        self._body_pending = False

    async def next_part(self) -> Part | None:
        """The next part's headers, skipping any unread body of the previous part."""
        if self._body_pending:
            async for _ in self.iter_body():
                pass
        event = await self._next_event()
        while event is not None and not isinstance(event, MultipartSegment):
            event = await self._next_event()  # stray data before the first header: ignore
        if event is None:
            return None
        self._body_pending = True
        return Part(name=event.name or "", filename=event.filename)

    async def iter_body(self) -> AsyncIterator[bytes]:
        """The current part's body, chunk by chunk, until the part ends."""
        while self._body_pending:
            event = await self._next_event()
            if event is None or isinstance(event, MultipartSegment):
                self._body_pending = False
                if isinstance(
                    event, MultipartSegment
                ):  # pragma: no cover - parser emits None first
                    self._events.appendleft(event)
                return
            yield event

    async def read_text(self, field: str) -> str:
        """The current part's body as UTF-8 text, at most 64 KiB."""
        buffer = bytearray()
        async for chunk in self.iter_body():
            buffer += chunk
            if len(buffer) > MAX_TEXT_FIELD_BYTES:
                raise PayloadTooLarge(f"Form field '{field}' is too long.", param=field)
        try:
            return buffer.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"Form field '{field}' is not valid UTF-8.", param=field) from exc

    async def _next_event(self) -> _Event:
        """The parser's next event; None at the end of a part and at the end of the body."""
        while not self._events:
            if self._parser.closed:
                return None
            chunk = await anext(self._stream, b"")
            try:
                # An empty chunk tells the parser the input ended; it raises if that was early.
                self._events.extend(
                    bytes(event) if isinstance(event, (bytearray, memoryview)) else event
                    for event in self._parser.parse(chunk)
                )
            except ParserLimitReached as exc:
                raise PayloadTooLarge(f"Multipart body exceeds a limit: {exc}") from exc
            except ParserError as exc:
                raise InvalidRequest(f"Malformed multipart/form-data body: {exc}") from exc
        return self._events.popleft()
