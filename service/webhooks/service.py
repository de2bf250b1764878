"""Webhooks as callers and the ctl worker see them: manage a project's endpoints, read their
delivery logs, and hand attempts to the deliverer (``job_notifier`` creates the deliveries)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from service.auth.caller import Caller
from service.clock import Clock, to_seconds
from service.errors import InvalidRequest, NotFound
from service.ids import IdPrefix, new_id
from service.pagination import Page, require_page_limit
from service.webhooks.delivery import WebhookDeliverer
from service.webhooks.delivery_store import WebhookDeliveryStore
from service.webhooks.endpoint_store import WebhookEndpointStore
from service.webhooks.events import event_body
from service.webhooks.records import (
    AttemptRecord,
    DeliveryRecord,
    EndpointRecord,
    WebhookEventType,
)
from service.webhooks.signing import new_signing_secret
from service.webhooks.targets import TargetGuard, TargetRefused, TargetUnresolvable

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 256
PREVIOUS_SECRET_GRACE_S = 24 * 3600
TEST_SUBJECT_ID = "ftjob-test"


@dataclass(frozen=True)
class DeliveryLogEntry:
    """A delivery with every attempt made so far."""

    delivery: DeliveryRecord
    attempts: list[AttemptRecord]


@dataclass(frozen=True)
class EndpointTestResult:
    """What an endpoint answered to a sample event."""

    endpoint_id: str
    event_type: WebhookEventType
    status_code: int


class WebhookService:
    """Endpoints per project, deliveries per finished job."""

    def __init__(
        self,
        endpoints: WebhookEndpointStore,
        deliveries: WebhookDeliveryStore,
        deliverer: WebhookDeliverer,
        guard: TargetGuard,
        clock: Clock,
        *,
        max_endpoints_per_project: int,
    ) -> None:
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._deliverer = deliverer
        self._guard = guard
        self._clock = clock
        self._max_endpoints = max_endpoints_per_project

    # -- endpoints -------------------------------------------------------------------------

    async def create_endpoint(
        self, caller: Caller, *, url: str, name: str, event_types: Sequence[str] | None
    ) -> EndpointRecord:
        """Check and store a new endpoint with a fresh signing secret (returned this once)."""
        types = _event_types(event_types)
        _check_name(name)
        await self._check_url(url)
        count = await self._endpoints.count(caller.project_id)
        if count >= self._max_endpoints:
            raise InvalidRequest(
                f"This project already has {count} webhook endpoints, the limit is "
                f"{self._max_endpoints}. Delete one first.",
                code="too_many_webhook_endpoints",
            )
        now_us = self._clock.now_us()
        record = EndpointRecord(
            id=new_id(IdPrefix.WEBHOOK_ENDPOINT),
            project_id=caller.project_id,
            url=url,
            name=name,
            event_types=types,
            signing_secret=new_signing_secret(),
            created_at=to_seconds(now_us),
            created_us=now_us,
            updated_at=to_seconds(now_us),
        )
        await self._endpoints.insert(record)
        return record

    async def get_endpoint(self, caller: Caller, endpoint_id: str) -> EndpointRecord:
        """The caller's endpoint; 404 for missing and foreign ids alike."""
        record = await self._endpoints.get(caller.project_id, endpoint_id)
        if record is None:
            raise NotFound(f"No such webhook endpoint: {endpoint_id}", param="webhook_endpoint_id")
        return record

    async def list_endpoints(
        self, caller: Caller, *, after: str | None, limit: int
    ) -> Page[EndpointRecord]:
        """A page of the caller's endpoints, newest first."""
        require_page_limit(limit)
        return await self._endpoints.list_page(caller.project_id, after_id=after, limit=limit)

    async def update_endpoint(
        self,
        caller: Caller,
        endpoint_id: str,
        *,
        url: str | None = None,
        name: str | None = None,
        event_types: Sequence[str] | None = None,
    ) -> EndpointRecord:
        """Change the URL (checked again), name or subscribed event types."""
        current = await self.get_endpoint(caller, endpoint_id)
        changes: dict[str, object] = {}
        if url is not None and url != current.url:
            await self._check_url(url)
            changes["url"] = url
        if name is not None and name != current.name:
            _check_name(name)
            changes["name"] = name
        if event_types is not None:
            types = _event_types(event_types)
            if set(types) != set(current.event_types):
                changes["event_types"] = types
        if not changes:
            return current
        changes["updated_at"] = to_seconds(self._clock.now_us())
        return await self._updated(caller, endpoint_id, changes)

    async def rotate_secret(
        self, caller: Caller, endpoint_id: str, *, keep_old_for_24_hours: bool
    ) -> EndpointRecord:
        """A new signing secret (returned this once); the old one keeps signing for 24 hours
        beside it when asked, so receivers can switch without dropping events."""
        current = await self.get_endpoint(caller, endpoint_id)
        now_s = to_seconds(self._clock.now_us())
        return await self._updated(
            caller,
            endpoint_id,
            {
                "signing_secret": new_signing_secret(),
                "previous_signing_secret": current.signing_secret
                if keep_old_for_24_hours
                else None,
                "previous_secret_expires_at": now_s + PREVIOUS_SECRET_GRACE_S
                if keep_old_for_24_hours
                else None,
                "updated_at": now_s,
            },
        )

    async def delete_endpoint(self, caller: Caller, endpoint_id: str) -> None:
        """Remove the endpoint and its delivery log; queued attempts find nothing and stop."""
        if not await self._endpoints.delete(caller.project_id, endpoint_id):
            raise NotFound(f"No such webhook endpoint: {endpoint_id}", param="webhook_endpoint_id")

    async def test_endpoint(
        self, caller: Caller, endpoint_id: str, event_type: str
    ) -> EndpointTestResult:
        """Send a signed sample event now and report the HTTP status the endpoint answered."""
        endpoint = await self.get_endpoint(caller, endpoint_id)
        (kind,) = _event_types([event_type], param="event_type")
        event_id = new_id(IdPrefix.WEBHOOK_EVENT)
        body = event_body(event_id, kind, to_seconds(self._clock.now_us()), TEST_SUBJECT_ID)
        try:
            result = await self._deliverer.send_now(endpoint, event_id, body.encode())
        except (TargetRefused, TargetUnresolvable) as exc:
            raise InvalidRequest(str(exc), param="url", code="invalid_webhook_url") from None
        if result.status_code is None:
            raise InvalidRequest(
                f"The endpoint could not be reached: {result.error}.",
                code="webhook_endpoint_unreachable",
            )
        return EndpointTestResult(endpoint.id, kind, result.status_code)

    async def delivery_status_counts(self) -> dict[str, int]:
        """Deliveries of every project by status (for metrics)."""
        return await self._deliveries.status_counts()

    async def list_deliveries(
        self, caller: Caller, endpoint_id: str, *, after: str | None, limit: int
    ) -> Page[DeliveryLogEntry]:
        """The endpoint's delivery log, newest first, each delivery with its attempts."""
        require_page_limit(limit)
        await self.get_endpoint(caller, endpoint_id)
        page = await self._deliveries.list_page(endpoint_id, after_id=after, limit=limit)
        attempts = await self._deliveries.attempts_of([item.id for item in page.items])
        return Page(
            items=[DeliveryLogEntry(item, attempts[item.id]) for item in page.items],
            has_more=page.has_more,
        )

    # -- deliveries ------------------------------------------------------------------------

    async def deliver(self, delivery_id: str, attempt: int | None = None) -> DeliveryRecord | None:
        """Make one delivery attempt (the ctl queue's ``deliver_webhook`` task runs this)."""
        return await self._deliverer.deliver(delivery_id, attempt)

    async def give_up(self, delivery_id: str) -> None:
        """End a delivery whose task was given up as failed."""
        await self._deliverer.give_up(delivery_id)

    async def requeue_overdue(self, *, grace_s: int = 60, limit: int = 500) -> int:
        """Queue attempts whose task was lost (for the reconciler's periodic pass)."""
        return await self._deliverer.requeue_overdue(grace_s=grace_s, limit=limit)

    async def close(self) -> None:
        """Release the sender's connections."""
        await self._deliverer.close()

    async def _check_url(self, url: str) -> None:
        try:
            await self._guard.check(url)
        except (TargetRefused, TargetUnresolvable) as exc:
            raise InvalidRequest(str(exc), param="url", code="invalid_webhook_url") from None

    async def _updated(
        self, caller: Caller, endpoint_id: str, changes: dict[str, object]
    ) -> EndpointRecord:
        record = await self._endpoints.update(caller.project_id, endpoint_id, **changes)
        if record is None:
            raise NotFound(f"No such webhook endpoint: {endpoint_id}", param="webhook_endpoint_id")
        return record


def _event_types(
    values: Sequence[str] | None, *, param: str = "event_types"
) -> tuple[WebhookEventType, ...]:
    if values is None:
        return tuple(WebhookEventType)
    allowed = [event_type.value for event_type in WebhookEventType]
    if not values:
        raise InvalidRequest(f"{param} must name at least one of {allowed}.", param=param)
    for value in values:
        if value not in allowed:
            raise InvalidRequest(
                f"'{value}' is not an event type ftapi sends; choose from {allowed}.", param=param
            )
    return tuple(dict.fromkeys(WebhookEventType(value) for value in values))


def _check_name(name: str) -> None:
    if len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(f"name must be at most {MAX_NAME_CHARS} characters.", param="name")
