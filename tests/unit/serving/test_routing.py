"""Adapter affinity: rendezvous hashing is stable, balanced, minimally disrupted, and spills."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from service.serving.gateway.routing import AgentRing, rendezvous_order

AGENTS = [f"http://10.0.0.{i}:8100" for i in range(1, 6)]
KEYS = [f"ftm-{i:032x}" for i in range(2000)]


@given(st.text(min_size=1, max_size=60), st.permutations(AGENTS))
def test_order_is_a_permutation_that_ignores_configuration_order(
    key: str, agents: list[str]
) -> None:
    order = rendezvous_order(key, agents)

    assert sorted(order) == sorted(AGENTS)
    assert order == rendezvous_order(key, AGENTS)


def test_first_choices_are_balanced() -> None:
    firsts = Counter(rendezvous_order(key, AGENTS)[0] for key in KEYS)

    assert set(firsts) == set(AGENTS)
    share = len(KEYS) / len(AGENTS)
    assert all(0.8 * share < count < 1.2 * share for count in firsts.values()), firsts


def test_removing_an_agent_moves_only_its_own_adapters() -> None:
    gone = AGENTS[2]
    remaining = [agent for agent in AGENTS if agent != gone]

    for key in KEYS:
        before = rendezvous_order(key, AGENTS)
        after = rendezvous_order(key, remaining)
        # Everyone keeps their order; the removed agent's adapters go to their second choice.
        assert after == [agent for agent in before if agent != gone]


def test_adding_an_agent_takes_about_its_share() -> None:
    grown = [*AGENTS, "http://10.0.0.9:8100"]

    moved = [
        key for key in KEYS if rendezvous_order(key, grown)[0] != rendezvous_order(key, AGENTS)[0]
    ]

    assert all(rendezvous_order(key, grown)[0] == grown[-1] for key in moved)
    assert 0.1 * len(KEYS) < len(moved) < 0.25 * len(KEYS)


def test_agents_that_failed_go_last_until_their_cooldown_ends() -> None:
    now = [100.0]
    ring = AgentRing(AGENTS, down_cooldown_s=5.0, monotonic=lambda: now[0])
    preferred = ring.candidates("base", KEYS[0])

    ring.mark_down(preferred[0])
    cooling = ring.candidates("base", KEYS[0])
    now[0] += 5.1
    recovered = ring.candidates("base", KEYS[0])

    assert cooling == [*preferred[1:], preferred[0]]
    assert recovered == preferred


def test_an_agent_that_answers_is_preferred_again_at_once() -> None:
    ring = AgentRing(AGENTS, down_cooldown_s=60.0)
    preferred = ring.candidates("base", KEYS[1])

    ring.mark_down(preferred[0])
    ring.mark_up(preferred[0])

    assert ring.candidates("base", KEYS[1]) == preferred


def test_base_models_can_have_agents_of_their_own() -> None:
    ring = AgentRing(AGENTS[:2], {"big-model": [AGENTS[4] + "/"]})

    assert ring.candidates("big-model", KEYS[0]) == [AGENTS[4]]
    assert sorted(ring.candidates("small-model", KEYS[0])) == sorted(AGENTS[:2])
    assert ring.all_agents() == [AGENTS[0], AGENTS[1], AGENTS[4]]
