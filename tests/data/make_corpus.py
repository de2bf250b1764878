"""Writes the corpus files that are too big or too binary to commit.

The committed files live in ``bad/`` and ``good/``; these are generated at test time into a
temp dir (``tests/unit/datasets/test_validation.py`` imports this module), or by hand with

    python tests/data/make_corpus.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

HUGE_LINE_BYTES = 20 * 1024 * 1024
N_PADDING_EXAMPLES = 10


def _chat_line(i: int) -> bytes:
    example = {
        "messages": [
            {"role": "user", "content": f"What is {i} + {i}?"},
            {"role": "assistant", "content": f"{i} + {i} = {2 * i}."},
        ]
    }
    return json.dumps(example).encode()


def _write(path: Path, bad_line: bytes, at: int, *, newline: bytes = b"\n") -> None:
    """Ten valid chat examples with ``bad_line`` inserted as line ``at`` (1-based)."""
    lines = [_chat_line(i) for i in range(1, N_PADDING_EXAMPLES + 1)]
    lines.insert(at - 1, bad_line)
    path.write_bytes(newline.join(lines) + newline)


def write_huge_line(path: Path) -> None:
    """Line 4 is a valid chat example of 20 MiB: only its length is wrong."""
    head = b'{"messages": [{"role": "user", "content": "Summarize:'
    tail = b'"}, {"role": "assistant", "content": "Too long."}]}'
    filler = b"x" * (HUGE_LINE_BYTES - len(head) - len(tail))
    _write(path, head + filler + tail, 4)


def write_invalid_utf8(path: Path) -> None:
    """Line 3 holds a Latin-1 encoded "é" (0xE9), which is not UTF-8."""
    _write(
        path,
        '{"messages": [{"role": "user", "content": "café"}, '.encode("latin-1")
        + b'{"role": "assistant", "content": "Oui."}]}',
        3,
    )


def write_nul_byte(path: Path) -> None:
    """Line 6 has a raw NUL byte inside a string."""
    _write(
        path,
        b'{"messages": [{"role": "user", "content": "a\x00b"}, '
        b'{"role": "assistant", "content": "ok"}]}',
        6,
    )


def write_byte_order_mark(path: Path) -> None:
    """The file starts with a UTF-8 byte-order mark, as Windows editors write it."""
    _write(path, b"\xef\xbb\xbf" + _chat_line(0), 1)


def write_too_many_messages(path: Path) -> None:
    """Line 2 holds 2049 messages, one more than the default limit."""
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}] * 1024
    turns.append({"role": "user", "content": "Bye"})
    _write(path, json.dumps({"messages": turns}).encode(), 2)


def write_crlf_blank_lines(path: Path) -> None:
    """A valid file with CRLF line ends, blank lines, and no newline after the last line."""
    lines = [_chat_line(i) for i in range(1, N_PADDING_EXAMPLES + 1)]
    lines[3:3] = [b"", b"   ", b"\t"]
    path.write_bytes(b"\r\n".join(lines))


GENERATED: dict[str, Callable[[Path], None]] = {
    "huge_line.jsonl": write_huge_line,
    "invalid_utf8.jsonl": write_invalid_utf8,
    "nul_byte.jsonl": write_nul_byte,
    "byte_order_mark.jsonl": write_byte_order_mark,
    "too_many_messages.jsonl": write_too_many_messages,
    "crlf_blank_lines.jsonl": write_crlf_blank_lines,
}


def write_generated(out_dir: Path, name: str) -> Path:
    """Write the generated corpus file ``name`` into ``out_dir`` and return its path."""
    path = out_dir / name
    GENERATED[name](path)
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for corpus_name in GENERATED:
        print(write_generated(target, corpus_name))
