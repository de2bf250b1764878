"""Builds the webhook service (api and ctl worker) and the finished-job notifier (every process
that finishes jobs), once each at start-up."""

from __future__ import annotations

import ipaddress
import math

from service.clock import Clock
from service.db.engine import SessionFactory
from service.queue.protocol import TaskQueue
from service.settings import WebhooksSettings
from service.webhooks.addresses import AddressPolicy
from service.webhooks.delivery import RetryPolicy, WebhookDeliverer
from service.webhooks.delivery_store import WebhookDeliveryStore
from service.webhooks.endpoint_store import WebhookEndpointStore
from service.webhooks.job_notifier import JobWebhookNotifier
from service.webhooks.sender import PinnedHttpSender, WebhookSender
from service.webhooks.service import WebhookService
from service.webhooks.targets import Resolver, SystemResolver, TargetGuard

LEASE_MARGIN_S = 30


def build_webhook_service(
    settings: WebhooksSettings,
    sessions: SessionFactory,
    queue: TaskQueue,
    clock: Clock,
    *,
    resolver: Resolver | None = None,
    sender: WebhookSender | None = None,
) -> WebhookService:
    """The webhook service with the OS resolver and the pinned httpx sender unless given."""
    guard = TargetGuard(
        AddressPolicy(
            allow_private=settings.allow_private_targets,
            allowed_networks=tuple(
                ipaddress.ip_network(cidr, strict=False)
                for cidr in settings.allowed_target_networks
            ),
        ),
        resolver or SystemResolver(),
        resolve_timeout_s=settings.resolve_timeout_s,
    )
    endpoints = WebhookEndpointStore(sessions)
    deliveries = WebhookDeliveryStore(sessions)
    deliverer = WebhookDeliverer(
        deliveries,
        endpoints,
        guard,
        sender or PinnedHttpSender(timeout_s=settings.delivery_timeout_s),
        queue,
        clock,
        RetryPolicy(
            max_attempts=settings.max_attempts,
            retry_schedule_s=tuple(settings.retry_schedule_s),
            jitter_ratio=settings.retry_jitter_ratio,
            attempt_lease_s=math.ceil(
                settings.resolve_timeout_s + settings.delivery_timeout_s + LEASE_MARGIN_S
            ),
        ),
    )
    return WebhookService(
        endpoints,
        deliveries,
        deliverer,
        guard,
        clock,
        max_endpoints_per_project=settings.max_endpoints_per_project,
    )


def build_job_webhook_notifier(
    sessions: SessionFactory, queue: TaskQueue, clock: Clock
) -> JobWebhookNotifier:
    """The notifier that turns finished jobs into deliveries (no sender: it sends nothing)."""
    return JobWebhookNotifier(
        WebhookEndpointStore(sessions), WebhookDeliveryStore(sessions), queue, clock
    )
