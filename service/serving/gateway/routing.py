"""Which agent serves a request: adapter affinity by rendezvous hashing, with spill-over.

Every (adapter, agent) pair gets a pseudo-random weight; an adapter's agents in falling weight
order are its preference list. The first choice is stable, so an adapter stays loaded on one
replica instead of on all of them; when that agent is busy or down, the next one in the list
takes the request and loads the adapter lazily. Removing an agent only moves the adapters whose
first choice it was (the consistent-hashing property), and each agent is first choice for about
the same share of adapters. Agents that could not be reached go to the end of every list for a
cool-down, so a dead replica costs one failed connection, not one per request.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence


def rendezvous_order(key: str, nodes: Sequence[str]) -> list[str]:
    """``nodes`` in preference order for ``key`` (highest random weight first)."""
    return sorted(nodes, key=lambda node: (_weight(key, node), node), reverse=True)


def _weight(key: str, node: str) -> int:
    digest = hashlib.blake2b(f"{node}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class AgentRing:
    """The agents of each base model, and which of them are cooling down after a failure."""

    def __init__(
        self,
        default_urls: Sequence[str],
        urls_by_base: Mapping[str, Sequence[str]] | None = None,
        *,
        down_cooldown_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._default = _normalized(default_urls)
        self._by_base = {base: _normalized(urls) for base, urls in (urls_by_base or {}).items()}
        self._cooldown_s = down_cooldown_s
        self._monotonic = monotonic
        self._down_until: dict[str, float] = {}

    def agents_for(self, base_model: str) -> list[str]:
        """Every agent serving ``base_model``."""
        return list(self._by_base.get(base_model, self._default))

    def all_agents(self) -> list[str]:
        """Every configured agent, once each."""
        seen = dict.fromkeys(self._default)
        for urls in self._by_base.values():
            seen.update(dict.fromkeys(urls))
        return list(seen)

    def candidates(self, base_model: str, key: str) -> list[str]:
        """Agents to try for ``key`` in order: by preference, cooling-down ones last."""
        ordered = rendezvous_order(key, self.agents_for(base_model))
        now = self._monotonic()
        healthy = [url for url in ordered if self._down_until.get(url, 0.0) <= now]
        return healthy + [url for url in ordered if url not in healthy]

    def mark_down(self, url: str) -> None:
        """``url`` could not be reached: try it last for a while."""
        self._down_until[url] = self._monotonic() + self._cooldown_s

    def mark_up(self, url: str) -> None:
        """``url`` answered."""
        self._down_until.pop(url, None)


def _normalized(urls: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(url.rstrip("/") for url in urls))
