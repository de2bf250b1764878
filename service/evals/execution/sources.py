"""A run's rows: the inline ``file_content``, or a JSONL file of the project streamed from the
blob store, each row checked against the eval's item schema.

A row of a file is ``{"item": {...}, "sample": {...}}`` (OpenAI's layout; ``sample`` optional)
or a bare item object. Rows are numbered from 0 in file order, blank lines skipped, so a
restarted run numbers them the same way and skips the ones it stored. A row that is not JSON,
not an object, or breaks the schema is still a row: the runner stores it as an ``error`` item
with the problem, and the run goes on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from service.evals.data_sources import FileContentSource, RunDataSource
from service.evals.item_schema import ItemSchema

ROW_KEYS = frozenset({"item", "sample"})
MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer line is one error row, not a worker out of memory


class SourceUnavailable(Exception):
    """The source file is gone (deleted since the run was created); the run cannot go on."""


@dataclass(frozen=True)
class SourceRow:
    """One row: its item and given sample, or why it cannot be graded."""

    index: int
    item: dict[str, Any]
    sample: dict[str, Any] | None = None
    problem: str | None = None


FileReader = Callable[[str], AsyncIterator[bytes]]  # file id → its bytes (SourceUnavailable)


class RunSource:
    """The rows of one run's data source."""

    def __init__(self, source: RunDataSource, schema: ItemSchema, read_file: FileReader) -> None:
        self._source = source
        self._schema = schema
        self._read_file = read_file

    async def count(self) -> int:
        """How many rows there are (a file is read once more to count them)."""
        inline = self._source.source
        if isinstance(inline, FileContentSource):
            return len(inline.content)
        return sum([1 async for _ in _lines(self._read_file(inline.id))])

    async def rows(self) -> AsyncIterator[SourceRow]:
        """Every row, in order."""
        inline = self._source.source
        if isinstance(inline, FileContentSource):
            for index, row in enumerate(inline.content):
                yield self._checked(index, row.item, row.sample)
            return
        index = 0
        async for line in _lines(self._read_file(inline.id)):
            yield self._row_of_line(index, line)
            index += 1

    def _row_of_line(self, index: int, line: bytes | None) -> SourceRow:
        if line is None:
            return SourceRow(index, {}, problem=f"the line is longer than {MAX_LINE_BYTES} bytes")
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            return SourceRow(index, {}, problem="the line is not valid JSON")
        if not isinstance(value, dict):
            return SourceRow(index, {}, problem="a row must be a JSON object")
        if "item" not in value or not set(value) <= ROW_KEYS:
            return self._checked(index, value, None)  # a bare item
        item, sample = value["item"], value.get("sample")
        if not isinstance(item, dict):
            return SourceRow(index, {}, problem="the row's 'item' must be an object")
        if sample is not None and not isinstance(sample, dict):
            return SourceRow(index, item, problem="the row's 'sample' must be an object")
        return self._checked(index, item, sample)

    def _checked(
        self, index: int, item: dict[str, Any], sample: dict[str, Any] | None
    ) -> SourceRow:
        problem = self._schema.item_problem(item)
        if problem is not None:
            return SourceRow(
                index, item, sample, f"the item breaks the eval's item schema: {problem}"
            )
        if sample is not None and (problem := self._schema.sample_problem(sample)) is not None:
            return SourceRow(index, item, sample, f"the sample breaks the sample schema: {problem}")
        return SourceRow(index, item, sample)


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes | None]:
    """The non-blank lines of a byte stream; None for a line too long to keep."""
    parts: list[bytes] = []  # the line so far (only the new chunk is searched for b"\n")
    size = 0
    overflowing = False
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if overflowing:
                overflowing = False
                yield None
            else:
                line = b"".join([*parts, chunk[start:end]])
                if line.strip():
                    yield line
            parts, size, start = [], 0, end + 1
        if not overflowing:
            parts.append(chunk[start:])
            size += len(chunk) - start
            if size > MAX_LINE_BYTES:
                parts, size, overflowing = [], 0, True
    if overflowing:
        yield None
    elif (line := b"".join(parts)).strip():
        yield line
