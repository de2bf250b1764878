"""Webhook domain records: endpoints, deliveries and their attempts, event types.

A delivery moves ``pending → delivered | failed | refused``; ``pending`` may loop through failed
attempts (each one recorded) until ``max_attempts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from service.jobs.state_machine import JobStatus


class WebhookEventType(StrEnum):
    """The events ftapi sends (OpenAI's names and payload shape)."""

    FINE_TUNING_JOB_SUCCEEDED = "fine_tuning.job.succeeded"
    FINE_TUNING_JOB_FAILED = "fine_tuning.job.failed"
    FINE_TUNING_JOB_CANCELLED = "fine_tuning.job.cancelled"


# Webhooks fire only for the three terminal job states.
EVENT_TYPE_BY_JOB_STATUS: dict[JobStatus, WebhookEventType] = {
    JobStatus.SUCCEEDED: WebhookEventType.FINE_TUNING_JOB_SUCCEEDED,
    JobStatus.FAILED: WebhookEventType.FINE_TUNING_JOB_FAILED,
    JobStatus.CANCELLED: WebhookEventType.FINE_TUNING_JOB_CANCELLED,
}


class DeliveryStatus(StrEnum):
    """Where a delivery is: still trying, or done one way or another."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # out of attempts, or the endpoint answered 410 Gone
    REFUSED = "refused"  # the SSRF guard refused the target; never retried


class AttemptOutcome(StrEnum):
    """What one attempt led to."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    REFUSED = "refused"


@dataclass(frozen=True)
class EndpointRecord:
    """A project's webhook endpoint. Secrets are kept to sign with; never shown after create."""

    id: str
    project_id: str
    url: str
    name: str
    event_types: tuple[WebhookEventType, ...]
    signing_secret: str = field(repr=False)
    created_at: int
    created_us: int
    updated_at: int
    # After a rotation that keeps the old secret for a while, both sign each delivery.
    previous_signing_secret: str | None = field(default=None, repr=False)
    previous_secret_expires_at: int | None = None

    def signing_secrets(self, now_s: int) -> list[str]:
        """The secrets each delivery is signed with now (newest first)."""
        secrets = [self.signing_secret]
        if (
            self.previous_signing_secret is not None
            and self.previous_secret_expires_at is not None
            and now_s < self.previous_secret_expires_at
        ):
            secrets.append(self.previous_signing_secret)
        return secrets

    def subscribes_to(self, event_type: WebhookEventType) -> bool:
        """Whether this endpoint wants ``event_type``."""
        return event_type in self.event_types


@dataclass(frozen=True)
class DeliveryRecord:
    """One event on its way to one endpoint, with the exact body every attempt sends."""

    id: str
    endpoint_id: str
    project_id: str
    event_id: str
    event_type: WebhookEventType
    subject_id: str  # the event's ``data.id`` (the job id)
    payload: str
    status: DeliveryStatus
    attempts: int
    created_at: int
    created_us: int
    next_attempt_at: int | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: int | None = None


@dataclass(frozen=True)
class AttemptRecord:
    """One try at sending a delivery."""

    delivery_id: str
    attempt: int
    attempted_at: int
    outcome: AttemptOutcome
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
