"""Token leases: a replica takes several of a key's tokens from Redis at once and spends them
locally, so a busy key costs one Redis round trip per lease rather than one per request.

Sizing follows demand: a lease holds what the key used over the last ``lease_s`` seconds
(at least the one token the request asking for it needs), so a slow key still pays one round
trip per request and is limited exactly. A lease holds at most a ``LEASE_SHARE_OF_BURST``-th of
the bucket's burst, so what one replica holds unspent, which no other replica can have, stays
small; a burst below that share leases one token at a time, exactly as without leases. Tokens
a lease did not spend before it lapsed go back to Redis with the key's next lease. The global
limit is never exceeded: every token is charged in Redis before it is spent.

Everything here is arithmetic on the numbers Redis returned and a monotonic clock reading,
passed in, so it is tested without Redis or sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.ratelimit.buckets import Bucket, BucketState, Decision

LEASE_SHARE_OF_BURST = 20


@dataclass
class Lease:
    """Tokens of one key's bucket granted to this replica at ``granted_at`` (monotonic)."""

    bucket: Bucket
    granted: int
    unspent: int
    granted_at: float
    expires_at: float
    after_grant: BucketState  # the bucket in Redis just after the grant
    refusal: Decision | None = None  # set on a refused request: refuse locally until expiry

    @classmethod
    def of(cls, decision: Decision, now: float, lease_s: float) -> Lease:
        """The lease a decision grants; a refusal is remembered until its retry time."""
        state = decision.states[0]
        if not decision.allowed:
            return cls(
                bucket=state.bucket,
                granted=0,
                unspent=0,
                granted_at=now,
                expires_at=now + decision.retry_after_s,
                after_grant=state,
                refusal=decision,
            )
        return cls(
            bucket=state.bucket,
            granted=decision.granted,
            unspent=decision.granted,
            granted_at=now,
            expires_at=now + lease_s,
            after_grant=state,
        )

    def live(self, now: float) -> bool:
        """Whether the lease can still answer a request: a token left or a refusal in force."""
        return now < self.expires_at and (self.unspent > 0 or self.refusal is not None)

    def spend(self, now: float) -> Decision:
        """Answer one request from the lease (``live(now)`` must hold)."""
        elapsed_s = now - self.granted_at
        if self.refusal is not None:
            return Decision(
                allowed=False,
                retry_after_s=max(0.0, self.refusal.retry_after_s - elapsed_s),
                states=(self._state_at(elapsed_s),),
            )
        self.unspent -= 1
        return Decision(allowed=True, retry_after_s=0.0, states=(self._state_at(elapsed_s),))

    def lapsed_unspent(self, now: float) -> int:
        """Tokens to give back: what a lapsed lease did not spend (none while it runs)."""
        return self.unspent if now >= self.expires_at else 0

    def _state_at(self, elapsed_s: float) -> BucketState:
        # The client's view: tokens back in Redis since the grant, plus what this replica
        # holds unspent (charged in Redis, yet still the key's to use).
        interval_s = self.bucket.interval_us / 1e6
        due_s = max(0.0, self.after_grant.reset_s - elapsed_s - self.unspent * interval_s)
        remaining = math.floor((self.bucket.burst * interval_s - due_s) / interval_s + 1e-9)
        return BucketState(self.bucket, remaining=max(0, remaining), reset_s=due_s)


def lease_size(bucket: Bucket, previous: Lease | None, now: float, lease_s: float) -> int:
    """How many tokens to ask for: the key's recent demand over ``lease_s``, within the cap.

    Demand is what the previous lease spent, over the time from its grant to now (when the
    request asking for this lease arrived); with no history, or a slow key, one token.
    """
    cap = max(1, bucket.burst // LEASE_SHARE_OF_BURST)
    if previous is None or previous.refusal is not None or cap == 1:
        return 1
    spent = previous.granted - previous.unspent
    since_s = max(now - previous.granted_at, 1e-3)
    return max(1, min(cap, round(spent / since_s * lease_s)))
