"""How deep a JSON text nests, measured on its bytes before any parser recurses into it.

Parsers (msgspec, the stdlib) and everything that walks a decoded value afterwards (the chat
template's ``tojson``) recurse once per level, so a text nested near Python's recursion limit
may pass one of them and overflow the next; bounding the depth first keeps every step safe.
"""

from __future__ import annotations

import re

# A JSON string (escapes included) or a bracket: enough to measure nesting without parsing.
_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")


def exceeds_depth(text: bytes, limit: int) -> bool:
    """True when a JSON text nests brackets (outside strings) more than ``limit`` deep."""
    # Every level needs its own bracket, so few brackets settle it without a scan.
    if text.count(b"{") + text.count(b"[") <= limit:
        return False
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        char = text[match.start()]
        if char in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif char in _CLOSERS:
            depth -= 1
    return False
