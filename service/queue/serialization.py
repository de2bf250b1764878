"""msgpack for arq payloads: ids and numbers only, and never pickle (reliability §B.1)."""

from __future__ import annotations

from typing import Any

import msgpack


def serialize(value: dict[str, Any]) -> bytes:
    """arq ``job_serializer``."""
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def deserialize(payload: bytes) -> dict[str, Any]:
    """arq ``job_deserializer``."""
    value: dict[str, Any] = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    return value
