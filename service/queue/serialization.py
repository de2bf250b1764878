"""msgpack for arq payloads: ids and numbers only, and never pickle (reliability §B.1)."""

from __future__ import annotations

from typing import Any

import msgpack


def serialize(value: dict[str, Any]) -> bytes:
    """arq ``job_serializer``."""
    packed: bytes = msgpack.packb(value, use_bin_type=True, default=_exception_as_text)
    return packed


def _exception_as_text(value: object) -> str:
    # arq serializes a task's outcome even when it keeps no result: an abort before the task
    # started (CancelledError) or exhausted tries. msgpack cannot pack exceptions, and arq
    # then logged "can not serialize 'CancelledError' object"; their name and text suffice.
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    raise TypeError(f"can not serialize {type(value).__name__!r} object")


def deserialize(payload: bytes) -> dict[str, Any]:
    """arq ``job_deserializer``."""
    value: dict[str, Any] = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    return value
