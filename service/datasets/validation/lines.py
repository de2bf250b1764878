"""Split a stream of byte chunks into numbered lines with bounded memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def split_line_blocks(
    chunks: Iterable[bytes], max_line_bytes: int
) -> Iterator[tuple[int, list[bytes | None]]]:
    """Yield ``(number of the first line, lines)`` blocks covering every line in order.

    Lines are 1-based and have their newline removed. Chunks may have any size and cut lines
    anywhere. A line longer than ``max_line_bytes`` comes as ``None``, once, as soon as it is
    known to be too long; the rest of it is dropped while it streams by, so memory stays
    within one chunk plus ``max_line_bytes``. A last line without a newline is still a line.
    Blocks (about one per chunk) rather than single lines, because the per-line cost of a
    generator is a measurable part of validating a file.
    """
    line_no = 0  # lines completed so far
    pending: list[bytes] = []  # start of the current line, from earlier chunks
    pending_bytes = 0
    overlong = False  # inside a line already yielded as too long
    for chunk in chunks:
        pieces = chunk.split(b"\n")
        if len(pieces) == 1:  # no newline: the current line goes on
            if overlong or not chunk:
                continue
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes > max_line_bytes:
                yield line_no + 1, [None]
                overlong, pending, pending_bytes = True, [], 0
            continue
        tail = pieces.pop()
        lines: list[bytes | None] = [*pieces]
        if len(chunk) > max_line_bytes:  # only then can a line inside the chunk be too long
            lines = [line if len(line) <= max_line_bytes else None for line in pieces]
        first_line_no = line_no + 1
        if overlong:  # the first piece ends a line already reported
            del lines[0]
            first_line_no += 1
            line_no += 1
            overlong = False
        elif pending:
            pending.append(pieces[0])
            joined = b"".join(pending)
            lines[0] = joined if len(joined) <= max_line_bytes else None
            pending, pending_bytes = [], 0
        line_no += len(lines)
        if lines:
            yield first_line_no, lines
        if len(tail) > max_line_bytes:
            yield line_no + 1, [None]
            overlong = True
        elif tail:
            pending, pending_bytes = [tail], len(tail)
    if pending:
        yield line_no + 1, [b"".join(pending)]


def split_lines(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, line)`` for each line; see :func:`split_line_blocks`."""
    for first_line_no, lines in split_line_blocks(chunks, max_line_bytes):
        yield from enumerate(lines, start=first_line_no)
