"""Delivery against a real receiver, database and Redis: signed, retried, idempotent, guarded.

Attempts run in-process (``WebhookService.deliver``) so each step can be checked; the queue is
real Redis, read back to see which attempt is queued next.
"""

from __future__ import annotations

import socket
import time

import pytest
from openai import OpenAI
from openai.types.webhooks import (
    FineTuningJobCancelledWebhookEvent,
    FineTuningJobSucceededWebhookEvent,
)

from service.auth.caller import Caller
from service.jobs.state_machine import JobStatus
from service.queue.names import deliver_webhook_key
from service.settings import WebhooksSettings
from service.webhooks.delivery_store import WebhookDeliveryStore
from service.webhooks.factory import build_webhook_service
from service.webhooks.records import AttemptOutcome, DeliveryStatus
from service.webhooks.service import WebhookService
from tests.integration.webhooks.conftest import (
    WebhookParts,
    finished_job,
    new_caller,
    open_webhook_settings,
)
from tests.integration.webhooks.receiver import WebhookReceiver


async def _only_delivery_id(service: WebhookService, caller: Caller, endpoint_id: str) -> str:
    page = await service.list_deliveries(caller, endpoint_id, after=None, limit=10)
    assert len(page.items) == 1
    return page.items[0].delivery.id


def _sdk(secret: str) -> OpenAI:
    return OpenAI(api_key="unused", webhook_secret=secret)


async def test_a_finished_job_reaches_each_subscribed_endpoint_signed(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    webhooks = parts.webhooks
    endpoint = await webhooks.create_endpoint(caller, url=receiver.url, name="ci", event_types=None)
    failures_only = await webhooks.create_endpoint(
        caller, url=receiver.url, name="", event_types=["fine_tuning.job.failed"]
    )
    job = finished_job(caller, JobStatus.SUCCEEDED)

    await parts.notifier.job_finished(job)

    delivery_id = await _only_delivery_id(webhooks, caller, endpoint.id)
    none = await webhooks.list_deliveries(caller, failures_only.id, after=None, limit=10)
    assert none.items == []
    assert await parts.queue.is_pending(deliver_webhook_key(delivery_id, 1))
    assert receiver.requests == []  # nothing is sent until the task runs

    delivered = await webhooks.deliver(delivery_id)

    assert delivered is not None
    assert delivered.status is DeliveryStatus.DELIVERED
    (request,) = receiver.wait_for(1)
    assert request.path == "/hooks/ftapi"
    assert request.headers["content-type"] == "application/json"
    event = _sdk(endpoint.signing_secret).webhooks.unwrap(request.body, request.headers)
    assert isinstance(event, FineTuningJobSucceededWebhookEvent)
    assert event.data.id == job.id
    assert event.created_at == job.finished_at
    assert request.headers["webhook-id"] == event.id
    assert event.id.startswith("evt_")
    log = (await webhooks.list_deliveries(caller, endpoint.id, after=None, limit=10)).items[0]
    assert log.delivery.attempts == 1
    assert log.delivery.last_status_code == 200
    assert log.delivery.delivered_at is not None
    assert log.delivery.next_attempt_at is None
    assert [attempt.outcome for attempt in log.attempts] == [AttemptOutcome.DELIVERED]


async def test_a_500_is_retried_with_backoff_then_delivered_once(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    webhooks = parts.webhooks
    endpoint = await webhooks.create_endpoint(caller, url=receiver.url, name="", event_types=None)
    await parts.notifier.job_finished(finished_job(caller, JobStatus.CANCELLED))
    delivery_id = await _only_delivery_id(webhooks, caller, endpoint.id)
    receiver.answer_next(500)

    first = await webhooks.deliver(delivery_id, 1)

    assert first is not None
    assert first.status is DeliveryStatus.PENDING
    assert first.last_status_code == 500
    assert first.last_error == "HTTP 500: receiver says no"
    assert first.next_attempt_at is not None
    assert 0 <= first.next_attempt_at - time.time() <= 2  # the 1 s schedule of these settings
    assert await parts.queue.is_pending(deliver_webhook_key(delivery_id, 2))
    assert await webhooks.deliver(delivery_id, 1) is None  # a stale task for attempt 1 exits

    second = await webhooks.deliver(delivery_id, 2)

    assert second is not None
    assert second.status is DeliveryStatus.DELIVERED
    assert second.attempts == 2
    assert await webhooks.deliver(delivery_id) is None  # delivered: never sent again
    assert await webhooks.deliver(delivery_id, 3) is None
    failed_try, good_try = receiver.wait_for(2)
    assert len(receiver.requests) == 2
    assert failed_try.body == good_try.body
    assert failed_try.headers["webhook-id"] == good_try.headers["webhook-id"]
    event = _sdk(endpoint.signing_secret).webhooks.unwrap(good_try.body, good_try.headers)
    assert isinstance(event, FineTuningJobCancelledWebhookEvent)
    log = (await webhooks.list_deliveries(caller, endpoint.id, after=None, limit=10)).items[0]
    assert [(a.attempt, a.outcome, a.status_code) for a in log.attempts] == [
        (1, AttemptOutcome.RETRY, 500),
        (2, AttemptOutcome.DELIVERED, 200),
    ]


async def test_delivery_gives_up_after_max_attempts(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    webhooks = parts.webhooks
    endpoint = await webhooks.create_endpoint(caller, url=receiver.url, name="", event_types=None)
    await parts.notifier.job_finished(finished_job(caller, JobStatus.FAILED))
    delivery_id = await _only_delivery_id(webhooks, caller, endpoint.id)
    receiver.answer_next(503, 502, 500)

    statuses = []
    for attempt in (1, 2, 3):
        result = await webhooks.deliver(delivery_id, attempt)
        assert result is not None
        statuses.append(result.status)

    assert statuses == [DeliveryStatus.PENDING, DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    assert not await parts.queue.is_pending(deliver_webhook_key(delivery_id, 4))
    assert await webhooks.deliver(delivery_id) is None
    assert len(receiver.requests) == 3


async def test_410_gone_ends_the_delivery_at_once(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    webhooks = parts.webhooks
    endpoint = await webhooks.create_endpoint(caller, url=receiver.url, name="", event_types=None)
    await parts.notifier.job_finished(finished_job(caller))
    delivery_id = await _only_delivery_id(webhooks, caller, endpoint.id)
    receiver.answer_next(410)

    result = await webhooks.deliver(delivery_id)

    assert result is not None
    assert result.status is DeliveryStatus.FAILED
    assert not await parts.queue.is_pending(deliver_webhook_key(delivery_id, 2))


async def test_an_unreachable_endpoint_is_recorded_and_retried(
    parts: WebhookParts, caller: Caller
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    webhooks = parts.webhooks
    endpoint = await webhooks.create_endpoint(
        caller, url=f"http://127.0.0.1:{closed_port}/x", name="", event_types=None
    )
    await parts.notifier.job_finished(finished_job(caller))
    delivery_id = await _only_delivery_id(webhooks, caller, endpoint.id)

    result = await webhooks.deliver(delivery_id)

    assert result is not None
    assert result.status is DeliveryStatus.PENDING
    assert result.last_status_code is None
    assert result.last_error is not None
    assert "could not connect to 127.0.0.1" in result.last_error
    assert await parts.queue.is_pending(deliver_webhook_key(delivery_id, 2))


async def test_a_repeated_notification_adds_no_delivery_and_other_statuses_none(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    webhooks = parts.webhooks
    endpoint = await webhooks.create_endpoint(caller, url=receiver.url, name="", event_types=None)
    job = finished_job(caller)

    await parts.notifier.job_finished(job)
    await parts.notifier.job_finished(job)
    await parts.notifier.job_finished(finished_job(caller, JobStatus.RUNNING))
    other_project = await new_caller(parts, "someone-else")
    await parts.notifier.job_finished(finished_job(other_project))

    page = await webhooks.list_deliveries(caller, endpoint.id, after=None, limit=10)
    assert [entry.delivery.subject_id for entry in page.items] == [job.id]


class HostsFile:
    """A ``Resolver`` answering from a fixed table, for names only this test knows."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


async def test_the_request_goes_to_the_checked_address_under_the_hosts_name(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    hosts = HostsFile({"hooks.example.test": ["127.0.0.1"]})
    webhooks = build_webhook_service(
        open_webhook_settings(), parts.sessions, parts.queue, parts.clock, resolver=hosts
    )
    try:
        endpoint = await webhooks.create_endpoint(
            caller,
            url=f"http://hooks.example.test:{receiver.port}/pinned?x=1",
            name="",
            event_types=None,
        )
        await parts.notifier.job_finished(finished_job(caller))
        delivery_id = await _only_delivery_id(webhooks, caller, endpoint.id)
        result = await webhooks.deliver(delivery_id)
    finally:
        await webhooks.close()

    assert result is not None
    assert result.status is DeliveryStatus.DELIVERED
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert request.path == "/pinned?x=1"
    # Resolved at save and at send, by the guard only: the OS cannot resolve this name, so the
    # request reached the receiver through the checked address.
    assert hosts.lookups == ["hooks.example.test", "hooks.example.test"]


async def test_a_name_re_pointed_at_an_internal_address_is_refused_at_delivery(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    hosts = HostsFile({"hooks.example.test": ["93.184.216.34"]})
    webhooks = build_webhook_service(
        WebhooksSettings(), parts.sessions, parts.queue, parts.clock, resolver=hosts
    )
    try:
        endpoint = await webhooks.create_endpoint(
            caller, url=f"http://hooks.example.test:{receiver.port}/", name="", event_types=None
        )
        await parts.notifier.job_finished(finished_job(caller))
        delivery_id = await _only_delivery_id(webhooks, caller, endpoint.id)
        hosts.table["hooks.example.test"] = [
            "127.0.0.1"
        ]  # DNS changed after the endpoint was saved
        result = await webhooks.deliver(delivery_id)
    finally:
        await webhooks.close()

    assert result is not None
    assert result.status is DeliveryStatus.REFUSED
    assert result.last_error == (
        "Webhooks cannot be sent to hooks.example.test: it resolves to 127.0.0.1, a loopback "
        "address. Use a public address."
    )
    assert receiver.requests == []
    assert not await parts.queue.is_pending(deliver_webhook_key(delivery_id, 2))
    log = (await webhooks.list_deliveries(caller, endpoint.id, after=None, limit=10)).items[0]
    assert [attempt.outcome for attempt in log.attempts] == [AttemptOutcome.REFUSED]


async def test_deleting_an_endpoint_drops_its_pending_deliveries(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    webhooks = parts.webhooks
    endpoint = await webhooks.create_endpoint(caller, url=receiver.url, name="", event_types=None)
    await parts.notifier.job_finished(finished_job(caller))
    delivery_id = await _only_delivery_id(webhooks, caller, endpoint.id)

    await webhooks.delete_endpoint(caller, endpoint.id)

    assert await webhooks.deliver(delivery_id) is None
    assert receiver.requests == []


async def test_attempts_lost_with_redis_are_queued_again(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    webhooks = parts.webhooks
    endpoint = await webhooks.create_endpoint(caller, url=receiver.url, name="", event_types=None)
    await parts.notifier.job_finished(finished_job(caller))
    delivery_id = await _only_delivery_id(webhooks, caller, endpoint.id)
    await parts.redis.flushdb()
    assert not await parts.queue.is_pending(deliver_webhook_key(delivery_id, 1))

    requeued = await webhooks.requeue_overdue(grace_s=0)

    assert requeued == 1
    assert await parts.queue.is_pending(deliver_webhook_key(delivery_id, 1))


async def test_an_attempt_whose_worker_died_is_followed_by_the_next_one(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    webhooks = parts.webhooks
    endpoint = await webhooks.create_endpoint(caller, url=receiver.url, name="", event_types=None)
    await parts.notifier.job_finished(finished_job(caller))
    delivery_id = await _only_delivery_id(webhooks, caller, endpoint.id)
    store = WebhookDeliveryStore(parts.sessions)
    # A worker claims attempt 1 and dies before sending; its lease has run out.
    assert await store.claim(delivery_id, 1, lease_until_s=int(time.time()) - 1)
    assert await webhooks.deliver(delivery_id, 1) is None  # arq re-running that task: no-op

    assert await webhooks.requeue_overdue(grace_s=0) == 1
    assert await parts.queue.is_pending(deliver_webhook_key(delivery_id, 2))
    result = await webhooks.deliver(delivery_id, 2)

    assert result is not None
    assert result.status is DeliveryStatus.DELIVERED
    assert len(receiver.requests) == 1


async def test_a_last_attempt_that_died_fails_the_delivery(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    webhooks = parts.webhooks
    endpoint = await webhooks.create_endpoint(caller, url=receiver.url, name="", event_types=None)
    await parts.notifier.job_finished(finished_job(caller))
    delivery_id = await _only_delivery_id(webhooks, caller, endpoint.id)
    receiver.answer_next(500, 500)
    await webhooks.deliver(delivery_id, 1)
    await webhooks.deliver(delivery_id, 2)
    store = WebhookDeliveryStore(parts.sessions)
    assert await store.claim(delivery_id, 3, lease_until_s=int(time.time()) - 1)  # the last

    assert await webhooks.requeue_overdue(grace_s=0) == 1
    result = await webhooks.deliver(delivery_id, 4)

    assert result is not None
    assert result.status is DeliveryStatus.FAILED
    assert result.last_error == "The last attempt was interrupted."
    assert await webhooks.requeue_overdue(grace_s=0) == 0
    assert len(receiver.requests) == 2


async def test_after_a_rotation_that_keeps_the_old_secret_both_verify(
    parts: WebhookParts, caller: Caller, receiver: WebhookReceiver
) -> None:
    webhooks = parts.webhooks
    endpoint = await webhooks.create_endpoint(caller, url=receiver.url, name="", event_types=None)
    rotated = await webhooks.rotate_secret(caller, endpoint.id, keep_old_for_24_hours=True)
    await parts.notifier.job_finished(finished_job(caller))
    await webhooks.deliver(await _only_delivery_id(webhooks, caller, endpoint.id))

    (request,) = receiver.wait_for(1)
    assert rotated.signing_secret != endpoint.signing_secret
    for secret in (endpoint.signing_secret, rotated.signing_secret):
        _sdk(secret).webhooks.verify_signature(request.body, request.headers)


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://2130706433/", "http://[::ffff:7f00:1]/"],
)
async def test_create_refuses_internal_urls_with_the_default_policy(
    parts: WebhookParts, caller: Caller, url: str
) -> None:
    guarded = build_webhook_service(WebhooksSettings(), parts.sessions, parts.queue, parts.clock)
    try:
        with pytest.raises(Exception, match="cannot be sent") as refused:
            await guarded.create_endpoint(caller, url=url, name="", event_types=None)
    finally:
        await guarded.close()
    assert getattr(refused.value, "param", None) == "url"
