"""HTTP shapes of webhook endpoints: the ``openai`` SDK's ``client.webhooks`` types, plus the
delivery log (an ftapi extension)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.http.schemas import InputModel
from service.webhooks.records import AttemptRecord, EndpointRecord
from service.webhooks.service import DeliveryLogEntry, EndpointTestResult
from service.webhooks.signing import signing_secret_hint
from service.webhooks.targets import MAX_URL_CHARS


class WebhookEndpointCreate(InputModel):
    """``POST /v1/webhook_endpoints``."""

    url: str = Field(max_length=MAX_URL_CHARS, description="Where deliveries are POSTed.")
    name: str = Field(default="", max_length=256, description="A human-readable name.")
    event_types: list[str] | None = Field(
        default=None,
        description="Events to deliver; default all three fine_tuning.job.* types.",
    )


class WebhookEndpointUpdate(InputModel):
    """``POST /v1/webhook_endpoints/{id}``: only the fields given change."""

    url: str | None = Field(default=None, max_length=MAX_URL_CHARS)
    name: str | None = Field(default=None, max_length=256)
    event_types: list[str] | None = None


class WebhookSecretRotation(InputModel):
    """``POST /v1/webhook_endpoints/{id}/rotate_secret``."""

    keep_old_secret_active_for_24_hours: bool = False


class WebhookEndpointTest(InputModel):
    """``POST /v1/webhook_endpoints/{id}/test``."""

    event_type: str


class WebhookEndpointObject(BaseModel):
    """OpenAI's ``webhook_endpoint`` (the secret itself is never shown again)."""

    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    created_at: int
    updated_at: int
    name: str
    url: str
    event_types: list[str]
    signing_secret_hint: str

    @classmethod
    def of(cls, record: EndpointRecord) -> WebhookEndpointObject:
        """The wire shape of an endpoint."""
        return cls(
            id=record.id,
            created_at=record.created_at,
            updated_at=record.updated_at,
            name=record.name,
            url=record.url,
            event_types=[event_type.value for event_type in record.event_types],
            signing_secret_hint=signing_secret_hint(record.signing_secret),
        )


class WebhookEndpointWithSecretObject(WebhookEndpointObject):
    """The endpoint with its signing secret: only from create and rotate_secret."""

    signing_secret: str

    @classmethod
    def of(cls, record: EndpointRecord) -> WebhookEndpointWithSecretObject:
        """The wire shape, secret included."""
        public = WebhookEndpointObject.of(record).model_dump()
        return cls(**public, signing_secret=record.signing_secret)


class WebhookEndpointDeleted(BaseModel):
    """The answer to ``DELETE /v1/webhook_endpoints/{id}``."""

    id: str
    object: Literal["webhook_endpoint.deleted"] = "webhook_endpoint.deleted"
    deleted: bool


class WebhookEndpointTestResultObject(BaseModel):
    """What the endpoint answered to a sample event."""

    object: Literal["webhook_endpoint.test"] = "webhook_endpoint.test"
    webhook_endpoint_id: str
    event_type: str
    status_code: int
    success: Literal[True] = True

    @classmethod
    def of(cls, result: EndpointTestResult) -> WebhookEndpointTestResultObject:
        """The wire shape of a test result."""
        return cls(
            webhook_endpoint_id=result.endpoint_id,
            event_type=result.event_type.value,
            status_code=result.status_code,
        )


class WebhookEventTypeList(BaseModel):
    """``GET /v1/webhook_event_types``."""

    object: Literal["list"] = "list"
    data: list[str]


class WebhookDeliveryAttemptObject(BaseModel):
    """One try at sending a delivery."""

    attempt: int
    attempted_at: int
    outcome: Literal["delivered", "retry", "failed", "refused"]
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def of(cls, record: AttemptRecord) -> WebhookDeliveryAttemptObject:
        """The wire shape of an attempt."""
        return cls(
            attempt=record.attempt,
            attempted_at=record.attempted_at,
            outcome=record.outcome.value,
            status_code=record.status_code,
            error=record.error,
            duration_ms=record.duration_ms,
        )


class WebhookDeliveryObject(BaseModel):
    """One event's delivery to one endpoint, with every attempt (ftapi extension)."""

    id: str
    object: Literal["webhook_delivery"] = "webhook_delivery"
    webhook_endpoint_id: str
    event_id: str
    event_type: str
    data_id: str = Field(description="The event's data.id: the fine-tuning job.")
    status: Literal["pending", "delivered", "failed", "refused"]
    attempt_count: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: int | None = Field(description="When the next attempt is due, if pending.")
    delivered_at: int | None
    created_at: int
    attempts: list[WebhookDeliveryAttemptObject]

    @classmethod
    def of(cls, entry: DeliveryLogEntry) -> WebhookDeliveryObject:
        """The wire shape of a delivery log entry."""
        delivery = entry.delivery
        return cls(
            id=delivery.id,
            webhook_endpoint_id=delivery.endpoint_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type.value,
            data_id=delivery.subject_id,
            status=delivery.status.value,
            attempt_count=delivery.attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
            attempts=[WebhookDeliveryAttemptObject.of(attempt) for attempt in entry.attempts],
        )
