"""Error answers of an inference engine (vLLM or ``ftapi engine``), read the same way by the
gateway, which relays them to callers, and by the adapter agent, which acts on them.

vLLM answers errors nested (``{"error": {...}}``), flat (``{"object": "error", ...}``), or, behind a
proxy, as plain text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EngineErrorDetail:
    """An engine error answer, whichever of vLLM's two shapes it came in."""

    status_code: int
    message: str
    type: str | None = None
    param: str | None = None
    code: str | None = None


def parse_engine_error(status_code: int, body: bytes) -> EngineErrorDetail:
    """Read ``{"error": {"message", "type", …}}``, the flat legacy shape, or plain text."""
    try:
        payload: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return EngineErrorDetail(status_code, body.decode(errors="replace").strip()[:500])
    if isinstance(payload, dict):
        nested = payload.get("error")
        source = nested if isinstance(nested, dict) else payload
        message = source.get("message")
        if isinstance(message, str):
            return EngineErrorDetail(
                status_code,
                message,
                type=_text(source.get("type")),
                param=_text(source.get("param")),
                code=_text(source.get("code")),
            )
    return EngineErrorDetail(status_code, body.decode(errors="replace").strip()[:500])


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
