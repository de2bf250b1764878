"""The LRU of loaded adapters: bounded, least recently used out first, never one in use."""

from __future__ import annotations

import pytest

from gpu_runner.engine.residency import AdapterResidency, ResidencyFullError


def load(residency: AdapterResidency, name: str) -> list[str]:
    """What the engine does to load ``name``: make room, then add; returns the evicted."""
    evicted = residency.make_room()
    residency.add(name)
    return evicted


def test_the_least_recently_used_goes_first() -> None:
    residency = AdapterResidency(2)
    assert load(residency, "a") == []
    assert load(residency, "b") == []
    residency.touch("a")
    assert load(residency, "c") == ["b"]
    assert residency.resident == ["a", "c"]
    assert load(residency, "d") == ["a"]
    assert residency.resident == ["c", "d"]


def test_an_adapter_in_use_is_never_evicted() -> None:
    residency = AdapterResidency(2)
    load(residency, "a")
    load(residency, "b")
    with residency.in_use("a"):
        assert load(residency, "c") == ["b"]
        with residency.in_use("c"), pytest.raises(ResidencyFullError):
            residency.make_room()
        with pytest.raises(ResidencyFullError):
            residency.remove("a")
    assert load(residency, "d") == ["a"]  # idle again: the oldest goes


def test_add_refuses_to_overfill_and_remove_reports_what_it_forgot() -> None:
    residency = AdapterResidency(1)
    load(residency, "a")
    with pytest.raises(ResidencyFullError):
        residency.add("b")
    residency.add("a")  # already loaded: only refreshed
    assert residency.remove("a") is True
    assert residency.remove("a") is False
    assert not residency.is_resident("a")


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AdapterResidency(0)
