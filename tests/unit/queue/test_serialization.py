"""arq payloads in msgpack: an outcome that is an exception packs as its name and text."""

from __future__ import annotations

import asyncio

import pytest

from service.queue.serialization import deserialize, serialize


def test_an_aborted_tasks_outcome_packs_as_text() -> None:
    packed = serialize({"r": asyncio.CancelledError(), "s": False})

    assert deserialize(packed) == {"r": "CancelledError: ", "s": False}


def test_other_objects_are_still_refused() -> None:
    with pytest.raises(TypeError, match="can not serialize 'object' object"):
        serialize({"r": object()})
