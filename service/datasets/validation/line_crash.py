"""A bug that struck while reading one line of a training file, and that line's number.

Validation and tokenization run over a file line by line. Content never makes them raise (bad
lines become problems); when they do raise, it is a bug, and the task running them gives up.
The user can still act on it if told where it struck: the code that knows the line raises
``LineCrashed`` from the original exception (its ``__cause__``, which the log shows), and the
file or job then ends in ``error`` / ``failed`` naming the line.
"""

from __future__ import annotations


class LineCrashed(Exception):
    """Reading line ``line`` (1-based) of file ``file_id`` (None: not known here) raised."""

    def __init__(self, line: int, file_id: str | None = None) -> None:
        where = f"line {line}" if file_id is None else f"line {line} of {file_id}"
        super().__init__(f"internal error while reading {where}")
        self.line = line
        self.file_id = file_id

    def in_file(self, file_id: str) -> LineCrashed:
        """The same crash, naming the file it struck in."""
        named = LineCrashed(self.line, file_id)
        named.__cause__ = self.__cause__
        return named
