"""Delivering webhooks: one attempt per task, retried on the ctl queue with backoff.

Each attempt: claim the next attempt number (compare-and-set), run the SSRF guard again (DNS may
have changed since the endpoint was saved), sign the stored body with a fresh timestamp, POST it
to the checked address, record the attempt, then either finish or queue the next attempt with a
delay. A 2xx finishes the delivery; a refused target or a 410 ends it at once; anything else is
retried until ``max_attempts``. Tasks are idempotent: a delivered (or otherwise finished)
delivery is never sent again, and a task for an attempt number already taken does nothing.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass

from service.clock import Clock, to_seconds
from service.queue.protocol import TaskQueue
from service.webhooks.backoff import next_delay_s
from service.webhooks.delivery_store import WebhookDeliveryStore
from service.webhooks.endpoint_store import WebhookEndpointStore
from service.webhooks.records import (
    AttemptOutcome,
    AttemptRecord,
    DeliveryRecord,
    DeliveryStatus,
    EndpointRecord,
)
from service.webhooks.scheduling import queue_attempt
from service.webhooks.sender import SendResult, WebhookSender
from service.webhooks.signing import webhook_headers
from service.webhooks.targets import TargetGuard, TargetRefused, TargetUnresolvable

logger = logging.getLogger(__name__)

HTTP_GONE = 410

_STATUS_AFTER: dict[AttemptOutcome, DeliveryStatus] = {
    AttemptOutcome.DELIVERED: DeliveryStatus.DELIVERED,
    AttemptOutcome.RETRY: DeliveryStatus.PENDING,
    AttemptOutcome.FAILED: DeliveryStatus.FAILED,
    AttemptOutcome.REFUSED: DeliveryStatus.REFUSED,
}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently deliveries are retried."""

    max_attempts: int
    retry_schedule_s: tuple[float, ...]
    jitter_ratio: float
    attempt_lease_s: int  # longer than one attempt can take (resolve + send timeouts)


class WebhookDeliverer:
    """Runs delivery attempts and schedules the next ones."""

    def __init__(
        self,
        deliveries: WebhookDeliveryStore,
        endpoints: WebhookEndpointStore,
        guard: TargetGuard,
        sender: WebhookSender,
        queue: TaskQueue,
        clock: Clock,
        policy: RetryPolicy,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._deliveries = deliveries
        self._endpoints = endpoints
        self._guard = guard
        self._sender = sender
        self._queue = queue
        self._clock = clock
        self._policy = policy
        self._rng = rng or random.Random()  # noqa: S311 -- jitter, not secrets

    async def deliver(self, delivery_id: str, attempt: int | None = None) -> DeliveryRecord | None:
        """Make attempt number ``attempt`` (default: the next one) of a pending delivery.

        Returns the delivery afterwards, or None when there was nothing to do: the delivery is
        gone or finished, or that attempt number was already taken.
        """
        delivery = await self._deliveries.get(delivery_id)
        if delivery is None or delivery.status is not DeliveryStatus.PENDING:
            return None
        number = delivery.attempts + 1 if attempt is None else attempt
        if number != delivery.attempts + 1:
            return None
        if number > self._policy.max_attempts:  # the last attempt died without an outcome
            await self._deliveries.give_up(
                delivery_id, delivery.attempts, "The last attempt was interrupted."
            )
            return await self._deliveries.get(delivery_id)
        lease_until_s = to_seconds(self._clock.now_us()) + self._policy.attempt_lease_s
        if not await self._deliveries.claim(delivery_id, number, lease_until_s):
            return None
        endpoint = await self._endpoints.get_any(delivery.endpoint_id)
        if endpoint is None:
            return None  # deleted while we claimed; its deliveries went with it
        await self._attempt(delivery, endpoint, number)
        return await self._deliveries.get(delivery_id)

    async def give_up(self, delivery_id: str) -> None:
        """End a pending delivery whose task was given up (an internal error) as failed."""
        delivery = await self._deliveries.get(delivery_id)
        if delivery is None or delivery.status is not DeliveryStatus.PENDING:
            return
        await self._deliveries.give_up(
            delivery_id,
            delivery.attempts,
            "Delivery stopped on an internal error; the operators have the log.",
        )

    async def _attempt(
        self, delivery: DeliveryRecord, endpoint: EndpointRecord, number: int
    ) -> None:
        """Send attempt ``number``, record it, and queue the next one if it should be retried."""
        started_s = to_seconds(self._clock.now_us())
        result, refused = await self._send(delivery, endpoint)
        outcome = self._outcome(result, refused=refused, attempt=number)
        finished_s = to_seconds(self._clock.now_us())
        delay_s = None
        if outcome is AttemptOutcome.RETRY:
            delay_s = next_delay_s(
                number,
                self._policy.retry_schedule_s,
                jitter_ratio=self._policy.jitter_ratio,
                rng=self._rng,
                retry_after_s=result.retry_after_s,
            )
        recorded = await self._deliveries.finish_attempt(
            AttemptRecord(
                delivery_id=delivery.id,
                attempt=number,
                attempted_at=started_s,
                outcome=outcome,
                duration_ms=result.duration_ms,
                status_code=result.status_code,
                error=result.error,
            ),
            status=_STATUS_AFTER[outcome],
            next_attempt_at=None if delay_s is None else finished_s + math.ceil(delay_s),
            delivered_at=finished_s if outcome is AttemptOutcome.DELIVERED else None,
        )
        logger.info(
            "webhook attempt %d: %s",
            number,
            outcome.value,
            extra={
                "delivery_id": delivery.id,
                "endpoint_id": endpoint.id,
                "status_code": result.status_code,
            },
        )
        if recorded and delay_s is not None:
            await queue_attempt(self._queue, delivery.id, number + 1, defer_s=delay_s)

    async def send_now(self, endpoint: EndpointRecord, message_id: str, body: bytes) -> SendResult:
        """Send one signed body to ``endpoint`` outside the delivery log (endpoint tests).

        Raises ``TargetRefused`` or ``TargetUnresolvable`` when the guard stops it.
        """
        target = await self._guard.check(endpoint.url)
        now_s = to_seconds(self._clock.now_us())
        headers = webhook_headers(message_id, now_s, body, endpoint.signing_secrets(now_s))
        return await self._sender.send(target, body, headers)

    async def requeue_overdue(self, *, grace_s: int, limit: int) -> int:
        """Queue the next attempt of pending deliveries more than ``grace_s`` overdue (their task
        was lost with Redis, or a worker died mid-attempt); returns how many."""
        due = await self._deliveries.overdue(to_seconds(self._clock.now_us()) - grace_s, limit)
        for delivery in due:
            await queue_attempt(self._queue, delivery.id, delivery.attempts + 1)
        return len(due)

    async def close(self) -> None:
        """Release the sender's connections."""
        await self._sender.close()

    async def _send(
        self, delivery: DeliveryRecord, endpoint: EndpointRecord
    ) -> tuple[SendResult, bool]:
        """The attempt's result, and whether the guard refused the target."""
        try:
            return await self.send_now(
                endpoint, delivery.event_id, delivery.payload.encode()
            ), False
        except TargetRefused as exc:
            return SendResult(duration_ms=0, error=str(exc)), True
        except TargetUnresolvable as exc:
            return SendResult(duration_ms=0, error=str(exc)), False

    def _outcome(self, result: SendResult, *, refused: bool, attempt: int) -> AttemptOutcome:
        if refused:
            return AttemptOutcome.REFUSED
        if result.succeeded:
            return AttemptOutcome.DELIVERED
        if result.status_code == HTTP_GONE or attempt >= self._policy.max_attempts:
            return AttemptOutcome.FAILED
        return AttemptOutcome.RETRY
