"""The cache's byte and count budgets: LRU victims, never pinned ones or the entry just added."""

from __future__ import annotations

import pytest

from service.serving.agent.cache_budget import CacheBudget


def _budget(max_bytes: int, sizes: dict[str, int], max_entries: int | None = None) -> CacheBudget:
    budget = CacheBudget(max_bytes, max_entries)
    for name, size in sizes.items():
        budget.add(name, size)
    return budget


def test_within_budget_nothing_is_dropped() -> None:
    budget = _budget(100, {"a": 40, "b": 60})

    assert budget.victims(pinned=lambda _: False) == []
    assert budget.total_bytes == 100


def test_least_recently_used_entries_go_first() -> None:
    budget = _budget(100, {"a": 40, "b": 40, "c": 40})
    budget.touch("a")  # order now b, c, a

    assert budget.names() == ["b", "c", "a"]
    assert budget.victims(pinned=lambda _: False) == ["b"]


def test_pinned_entries_and_the_new_one_are_skipped() -> None:
    budget = _budget(50, {"a": 40, "b": 40, "c": 40, "d": 40})

    victims = budget.victims(pinned=lambda name: name in {"a", "c"}, keep="d")

    assert victims == ["b"]  # still over budget: a, c are loaded and d was just added


def test_as_many_as_needed_are_dropped() -> None:
    budget = _budget(100, {"a": 30, "b": 30, "c": 30, "d": 90})

    assert budget.victims(pinned=lambda _: False, keep="d") == ["a", "b", "c"]


def test_the_count_cap_holds_too() -> None:
    budget = _budget(10_000, {"a": 1, "b": 1, "c": 1}, max_entries=2)

    assert budget.victims(pinned=lambda _: False) == ["a"]


def test_re_adding_updates_size_and_recency() -> None:
    budget = _budget(100, {"a": 10, "b": 10})
    budget.add("a", 50)
    budget.remove("b")
    budget.remove("missing")

    assert budget.names() == ["a"]
    assert budget.total_bytes == 50


@pytest.mark.parametrize(("max_bytes", "max_entries"), [(0, None), (10, 0)])
def test_budgets_must_be_positive(max_bytes: int, max_entries: int | None) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CacheBudget(max_bytes, max_entries)
