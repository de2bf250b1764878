"""The README's runnable snippets: its ```python blocks and the ```sh / ```bash blocks that call
curl, in document order. A block is left out only when the line before its fence says
``<!-- not-tested: why -->``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell"})
_FENCE = re.compile(r"^```(\w*)\s*$")
_NOT_TESTED = re.compile(r"^<!--\s*not-tested:\s*(.+?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced snippet, with the README line its fence opens on."""

    language: str  # "python" or "sh"
    code: str
    line: int
    not_tested_reason: str | None = None


def readme_blocks(text: str) -> list[Block]:
    """Every python block and every shell block mentioning curl, in order."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None or not opening.group(1):
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        code = "\n".join(lines[index + 1 : end]) + "\n"
        language = opening.group(1)
        marker = _NOT_TESTED.match(lines[index - 1]) if index > 0 else None
        reason = marker.group(1) if marker else None
        if language == "python":
            blocks.append(Block("python", code, index + 1, reason))
        elif language in SHELL_LANGUAGES and "curl" in code:
            blocks.append(Block("sh", code, index + 1, reason))
        index = end + 1
    return blocks
