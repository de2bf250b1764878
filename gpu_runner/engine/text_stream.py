"""Generated tokens to text, released piece by piece, cut at the first stop string.

Detokenizing is incremental, as in vLLM and transformers' streamers: each step decodes a short
window of recent tokens twice (without and with the new ones) and keeps the difference, so word
boundaries and leading spaces come out as a whole decode would give them, and a character whose
bytes are not all in yet (a trailing U+FFFD) waits for its last token. Released text is further
held back by what might still become a stop string, so streamed pieces always join up to the
final text. Like vLLM, the stop string itself is not part of the output
(``include_stop_str_in_output=false``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

_INCOMPLETE_CHARACTER = "\ufffd"


class TextStream:
    """The text of one generation so far."""

    def __init__(self, decode: Callable[[list[int]], str], stop: Sequence[str]) -> None:
        self._decode = decode
        self._stop = tuple(text for text in stop if text)
        self._holdback = max((len(text) for text in self._stop), default=1) - 1
        self._ids: list[int] = []
        self._prefix_offset = 0  # the window's start: context for decoding the new tokens
        self._read_offset = 0  # tokens before this are already in _text
        self._text = ""
        self._released = 0
        self.stopped_by: str | None = None

    @property
    def text(self) -> str:
        """The output text, cut before the stop string if one was found."""
        return self._text

    def push(self, token_id: int) -> str:
        """Add a token; the text that can be released now (maybe empty)."""
        if self.stopped_by is not None:
            return ""
        self._ids.append(token_id)
        previous = len(self._text)
        self._read_new_text(final=False)
        self._find_stop(search_from=max(previous - self._holdback, 0))
        if self.stopped_by is not None:
            return self.finish()
        return self._release(len(self._text) - self._holdback)

    def finish(self) -> str:
        """Everything not released yet (generation is over)."""
        if self.stopped_by is None:
            self._read_new_text(final=True)
            self._find_stop(search_from=max(self._released - self._holdback, 0))
        return self._release(len(self._text))

    def _read_new_text(self, *, final: bool) -> None:
        window = self._ids[self._prefix_offset :]
        known = self._decode(self._ids[self._prefix_offset : self._read_offset])
        decoded = self._decode(window)
        if len(decoded) <= len(known):
            return
        if decoded.endswith(_INCOMPLETE_CHARACTER) and not final:
            return  # the last character's bytes are not all in yet
        self._text += decoded[len(known) :]
        self._prefix_offset = self._read_offset
        self._read_offset = len(self._ids)

    def _find_stop(self, search_from: int) -> None:
        found = [
            (index, text)
            for text in self._stop
            if (index := self._text.find(text, search_from)) != -1
        ]
        if found:
            index, text = min(found)
            self._text = self._text[:index]
            self.stopped_by = text

    def _release(self, end: int) -> str:
        if end <= self._released:
            return ""
        piece = self._text[self._released : end]
        self._released = end
        return piece
