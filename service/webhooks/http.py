"""Routes of webhook endpoints: ``/v1/webhook_endpoints`` (the ``openai`` SDK's
``client.webhooks`` methods) and ``/v1/webhook_event_types``, plus the delivery log."""

from __future__ import annotations

from typing import Annotated, TypeAlias

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from service.http.dependencies import CallerDep
from service.http.schemas import CursorPage
from service.webhooks.records import WebhookEventType
from service.webhooks.schemas import (
    WebhookDeliveryObject,
    WebhookEndpointCreate,
    WebhookEndpointDeleted,
    WebhookEndpointObject,
    WebhookEndpointTest,
    WebhookEndpointTestResultObject,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecretObject,
    WebhookEventTypeList,
    WebhookSecretRotation,
)
from service.webhooks.service import WebhookService

WebhooksDep: TypeAlias = NamedDependency[WebhookService]

EndpointId = FromPath[str]
After = Annotated[str | None, QueryParameter(description="Cursor: the last id of a page.")]
Limit = Annotated[int, QueryParameter(description="1 to 100.")]


class WebhookEndpointsController(Controller):
    """Where a project's fine-tuning job events are delivered, and how that went."""

    path = "/webhook_endpoints"
    tags = ("Webhooks",)

    @post("/", status_code=200, summary="Create a webhook endpoint")
    async def create_endpoint(
        self, caller: CallerDep, webhooks: WebhooksDep, data: JSONBody[WebhookEndpointCreate]
    ) -> WebhookEndpointWithSecretObject:
        """Register a URL for ``fine_tuning.job.*`` events. The answer carries the
        ``signing_secret`` (``whsec_…``); it is shown only here and after a rotation. URLs that
        resolve to loopback, private or link-local addresses are refused unless the operator
        allows them."""
        record = await webhooks.create_endpoint(
            caller, url=data.url, name=data.name, event_types=data.event_types
        )
        return WebhookEndpointWithSecretObject.of(record)

    @get("/", summary="List webhook endpoints")
    async def list_endpoints(
        self, caller: CallerDep, webhooks: WebhooksDep, after: After = None, limit: Limit = 20
    ) -> CursorPage[WebhookEndpointObject]:
        """The project's endpoints, newest first."""
        page = await webhooks.list_endpoints(caller, after=after, limit=limit)
        return CursorPage.of(
            [WebhookEndpointObject.of(record) for record in page.items], has_more=page.has_more
        )

    @get("/{webhook_endpoint_id:str}", summary="Retrieve a webhook endpoint")
    async def retrieve_endpoint(
        self, caller: CallerDep, webhooks: WebhooksDep, webhook_endpoint_id: EndpointId
    ) -> WebhookEndpointObject:
        """An endpoint (without its secret)."""
        return WebhookEndpointObject.of(await webhooks.get_endpoint(caller, webhook_endpoint_id))

    @post("/{webhook_endpoint_id:str}", status_code=200, summary="Update a webhook endpoint")
    async def update_endpoint(
        self,
        caller: CallerDep,
        webhooks: WebhooksDep,
        webhook_endpoint_id: EndpointId,
        data: JSONBody[WebhookEndpointUpdate],
    ) -> WebhookEndpointObject:
        """Change the URL (checked again), the name or the complete set of event types."""
        record = await webhooks.update_endpoint(
            caller,
            webhook_endpoint_id,
            url=data.url,
            name=data.name,
            event_types=data.event_types,
        )
        return WebhookEndpointObject.of(record)

    @delete("/{webhook_endpoint_id:str}", status_code=200, summary="Delete a webhook endpoint")
    async def delete_endpoint(
        self, caller: CallerDep, webhooks: WebhooksDep, webhook_endpoint_id: EndpointId
    ) -> WebhookEndpointDeleted:
        """Delete an endpoint and its delivery log; pending deliveries are dropped."""
        await webhooks.delete_endpoint(caller, webhook_endpoint_id)
        return WebhookEndpointDeleted(id=webhook_endpoint_id, deleted=True)

    @post(
        "/{webhook_endpoint_id:str}/rotate_secret",
        status_code=200,
        summary="Rotate a webhook endpoint's signing secret",
    )
    async def rotate_secret(
        self,
        caller: CallerDep,
        webhooks: WebhooksDep,
        webhook_endpoint_id: EndpointId,
        data: JSONBody[WebhookSecretRotation | None] = None,
    ) -> WebhookEndpointWithSecretObject:
        """A new signing secret, shown once. With ``keep_old_secret_active_for_24_hours`` the
        old secret keeps signing beside the new one for a day."""
        record = await webhooks.rotate_secret(
            caller,
            webhook_endpoint_id,
            keep_old_for_24_hours=data is not None and data.keep_old_secret_active_for_24_hours,
        )
        return WebhookEndpointWithSecretObject.of(record)

    @post(
        "/{webhook_endpoint_id:str}/test",
        status_code=200,
        summary="Send a sample event to a webhook endpoint",
    )
    async def test_endpoint(
        self,
        caller: CallerDep,
        webhooks: WebhooksDep,
        webhook_endpoint_id: EndpointId,
        data: JSONBody[WebhookEndpointTest],
    ) -> WebhookEndpointTestResultObject:
        """Send a signed sample event (``data.id`` is ``ftjob-test``) now and report the HTTP
        status the endpoint answered. Not recorded in the delivery log."""
        result = await webhooks.test_endpoint(caller, webhook_endpoint_id, data.event_type)
        return WebhookEndpointTestResultObject.of(result)

    @get("/{webhook_endpoint_id:str}/deliveries", summary="List an endpoint's deliveries")
    async def list_deliveries(
        self,
        caller: CallerDep,
        webhooks: WebhooksDep,
        webhook_endpoint_id: EndpointId,
        after: After = None,
        limit: Limit = 20,
    ) -> CursorPage[WebhookDeliveryObject]:
        """The delivery log (ftapi extension), newest first: each event sent to this endpoint,
        its status, attempts, last answer and when the next attempt is due."""
        page = await webhooks.list_deliveries(caller, webhook_endpoint_id, after=after, limit=limit)
        return CursorPage.of(
            [WebhookDeliveryObject.of(entry) for entry in page.items], has_more=page.has_more
        )


@get("/webhook_event_types", summary="List webhook event types", tags=["Webhooks"])
async def list_webhook_event_types() -> WebhookEventTypeList:
    """The event types an endpoint can subscribe to."""
    return WebhookEventTypeList(data=[event_type.value for event_type in WebhookEventType])
