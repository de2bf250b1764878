"""API key → caller, with a short per-replica memory of keys it has already authenticated.

Most requests come from keys seen seconds ago; remembering them saves the key lookup (a
database session, several round trips) on the hot path. Only hits are kept, so a new key works
at once; a revoked key keeps working on a replica that saw it for at most ``ttl_s``.
Entries are keyed by the key's SHA-256, never by the key itself. When a busy key's entry
lapses, the requests that arrive meanwhile share one lookup rather than each making its own.
"""

from __future__ import annotations

import asyncio
import functools
import time

from service.auth.api_keys import hash_key
from service.auth.caller import Caller
from service.auth.store import ProjectStore

DEFAULT_MAX_ENTRIES = 10_000


class KeyAuthenticator:
    """``authenticate(key)`` through the project store, remembering hits for ``ttl_s``."""

    def __init__(
        self,
        projects: ProjectStore,
        *,
        ttl_s: float,
        last_used_resolution_s: int,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self._projects = projects
        self._ttl_s = ttl_s
        self._last_used_resolution_s = last_used_resolution_s
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, Caller]] = {}
        self._lookups: dict[str, asyncio.Future[Caller | None]] = {}

    async def authenticate(self, plaintext: str) -> Caller | None:
        """The caller a live key identifies, or None."""
        key_hash = hash_key(plaintext)
        remembered = self._entries.get(key_hash)
        if remembered is not None:
            expires_at, caller = remembered
            if time.monotonic() < expires_at:
                return caller
            del self._entries[key_hash]
        lookup = self._lookups.get(key_hash)
        if lookup is None:
            lookup = self._lookups[key_hash] = asyncio.ensure_future(self._look_up(key_hash))
            lookup.add_done_callback(functools.partial(self._forget, key_hash))
        # Shielded: one waiter's cancellation (a client gone) must not cancel the others' lookup.
        return await asyncio.shield(lookup)

    def _forget(self, key_hash: str, lookup: asyncio.Future[Caller | None]) -> None:
        del self._lookups[key_hash]  # no other lookup of the key starts while this one runs
        if not lookup.cancelled():
            lookup.exception()  # retrieved: every waiter got it, or none was left to

    async def _look_up(self, key_hash: str) -> Caller | None:
        found = await self._projects.authenticate_hash(key_hash, self._last_used_resolution_s)
        if found is not None and self._ttl_s > 0:
            if len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest entry
            self._entries[key_hash] = (time.monotonic() + self._ttl_s, found)
        return found
