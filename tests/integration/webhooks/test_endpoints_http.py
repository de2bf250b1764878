"""Webhook endpoints over HTTP on a live api: the SDK's ``client.webhooks`` methods in strict
mode, raw-HTTP shapes and errors, tenancy, and delivery by a real ctl worker."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator

import httpx
import pytest
from openai import NotFoundError, OpenAI
from openai.types.webhooks import FineTuningJobFailedWebhookEvent

from service.jobs.state_machine import JobStatus
from tests.integration.webhooks.conftest import finished_job, new_caller, webhook_parts
from tests.integration.webhooks.receiver import WebhookReceiver
from tests.support.stack import ApiServer

ALL_EVENT_TYPES = [
    "fine_tuning.job.succeeded",
    "fine_tuning.job.failed",
    "fine_tuning.job.cancelled",
]


@pytest.fixture
def api_key(open_api: ApiServer, request: pytest.FixtureRequest) -> str:
    """A key for a project of this test's own."""
    return open_api.new_key(f"wh-{request.node.name}"[:120])


@pytest.fixture
def http(open_api: ApiServer, api_key: str) -> Iterator[httpx.Client]:
    """Raw HTTP to ``/v1`` with this test's key."""
    with httpx.Client(
        base_url=open_api.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def client(open_api: ApiServer, api_key: str) -> Iterator[OpenAI]:
    """The SDK in strict response-validation mode."""
    with OpenAI(
        base_url=open_api.base_url, api_key=api_key, _strict_response_validation=True, max_retries=0
    ) as sdk:
        yield sdk


def test_the_sdk_manages_endpoints_in_strict_mode(
    client: OpenAI, receiver: WebhookReceiver
) -> None:
    created = client.webhooks.create(
        url=receiver.url, name="ci", event_types=["fine_tuning.job.succeeded"]
    )

    assert created.id.startswith("we_")
    assert created.signing_secret.startswith("whsec_")
    assert len(base64.b64decode(created.signing_secret.removeprefix("whsec_"))) == 32
    assert created.signing_secret_hint is not None
    assert created.signing_secret_hint.endswith(created.signing_secret[-4:])
    assert created.event_types == ["fine_tuning.job.succeeded"]
    fetched = client.webhooks.retrieve(created.id)
    assert fetched.url == receiver.url
    assert fetched.name == "ci"
    assert "signing_secret" not in fetched.model_dump()
    updated = client.webhooks.update(created.id, name="renamed", event_types=ALL_EVENT_TYPES)
    assert updated.name == "renamed"
    assert updated.event_types == ALL_EVENT_TYPES
    rotated = client.webhooks.rotate_secret(created.id)
    assert rotated.signing_secret not in (created.signing_secret, "")
    listed = client.webhooks.list(limit=10)
    assert [endpoint.id for endpoint in listed.data] == [created.id]
    assert client.webhooks.event_types.list().data == ALL_EVENT_TYPES
    deleted = client.webhooks.delete(created.id)
    assert deleted.deleted is True
    assert deleted.object == "webhook_endpoint.deleted"
    with pytest.raises(NotFoundError):
        client.webhooks.retrieve(created.id)


def test_create_defaults_to_every_job_event_and_lists_newest_first(
    http: httpx.Client, receiver: WebhookReceiver
) -> None:
    ids = [
        http.post("/webhook_endpoints", json={"url": receiver.url}).json()["id"] for _ in range(3)
    ]

    first = http.get("/webhook_endpoints", params={"limit": 2}).json()
    rest = http.get("/webhook_endpoints", params={"after": first["last_id"]}).json()

    assert [item["id"] for item in first["data"] + rest["data"]] == ids[::-1]
    assert first["has_more"] is True
    assert rest["has_more"] is False
    for item in first["data"]:
        assert item["event_types"] == ALL_EVENT_TYPES
        assert item["name"] == ""
        assert "signing_secret" not in item


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"url": "http://127.0.0.1/x", "event_types": ["batch.completed"]}, "event_types"),
        ({"url": "http://127.0.0.1/x", "event_types": []}, "event_types"),
        ({"url": "ftp://127.0.0.1/x"}, "url"),
        ({"url": "http://127.0.0.1/x", "secret": "mine"}, "secret"),
        ({}, None),
    ],
)
def test_bad_bodies_answer_400_naming_the_field(
    http: httpx.Client, body: dict[str, object], param: str | None
) -> None:
    response = http.post("/webhook_endpoints", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param


def test_another_projects_endpoint_answers_404_like_a_missing_one(
    open_api: ApiServer, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    endpoint_id = http.post("/webhook_endpoints", json={"url": receiver.url}).json()["id"]
    stranger = {"Authorization": f"Bearer {open_api.new_key('wh-stranger')}"}

    with httpx.Client(base_url=open_api.base_url, headers=stranger, timeout=30) as other:
        answers = [
            other.get(f"/webhook_endpoints/{endpoint_id}"),
            other.post(f"/webhook_endpoints/{endpoint_id}", json={"name": "x"}),
            other.get(f"/webhook_endpoints/{endpoint_id}/deliveries"),
            other.post(f"/webhook_endpoints/{endpoint_id}/rotate_secret", json={}),
            other.post(
                f"/webhook_endpoints/{endpoint_id}/test",
                json={"event_type": "fine_tuning.job.succeeded"},
            ),
            other.delete(f"/webhook_endpoints/{endpoint_id}"),
        ]
        listed = other.get("/webhook_endpoints").json()
    missing = http.get("/webhook_endpoints/we_doesnotexist").json()

    assert [answer.status_code for answer in answers] == [404] * len(answers)
    assert {answer.json()["error"]["message"] for answer in answers} == {
        f"No such webhook endpoint: {endpoint_id}"
    }
    assert missing["error"]["message"] == "No such webhook endpoint: we_doesnotexist"
    assert listed["data"] == []
    assert http.get(f"/webhook_endpoints/{endpoint_id}").status_code == 200
    assert receiver.requests == []


def test_the_test_call_sends_a_signed_sample_now(client: OpenAI, receiver: WebhookReceiver) -> None:
    created = client.webhooks.create(url=receiver.url, name="", event_types=ALL_EVENT_TYPES)
    receiver.answer_next(503)

    result = client.webhooks.test(created.id, event_type="fine_tuning.job.failed")

    assert result.status_code == 503
    assert result.webhook_endpoint_id == created.id
    (request,) = receiver.wait_for(1)
    event = client.webhooks.unwrap(request.body, request.headers, secret=created.signing_secret)
    assert isinstance(event, FineTuningJobFailedWebhookEvent)
    assert event.data.id == "ftjob-test"
    assert client.with_raw_response.webhooks.list().http_response.status_code == 200


def test_a_ctl_worker_delivers_retries_after_a_500_and_logs_it(
    open_api: ApiServer, http: httpx.Client, api_key: str, receiver: WebhookReceiver
) -> None:
    created = http.post("/webhook_endpoints", json={"url": receiver.url, "name": "worker"}).json()
    receiver.answer_next(500)
    project = "wh-test_a_ctl_worker_delivers_retries_after_a_500_and_logs_it"  # api_key's

    async def finish_a_job() -> str:
        async with webhook_parts(open_api.config.settings()) as parts:
            job = finished_job(await new_caller(parts, project), JobStatus.FAILED)
            await parts.notifier.job_finished(job)
            return job.id

    job_id = asyncio.run(finish_a_job())

    first, second = receiver.wait_for(2, timeout_s=20)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    event = OpenAI(api_key="unused", webhook_secret=created["signing_secret"]).webhooks.unwrap(
        second.body, second.headers
    )
    assert event.data.id == job_id
    log = _wait_for_delivered(http, created["id"])
    assert log["event_type"] == "fine_tuning.job.failed"
    assert log["data_id"] == job_id
    assert log["attempt_count"] == 2
    assert log["last_status_code"] == 200
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in log["attempts"]] == [
        (1, "retry", 500),
        (2, "delivered", 200),
    ]


def _wait_for_delivered(http: httpx.Client, endpoint_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while True:
        page = http.get(f"/webhook_endpoints/{endpoint_id}/deliveries").json()
        if page["data"] and page["data"][0]["status"] == "delivered":
            return dict(page["data"][0])
        assert time.monotonic() < deadline, page
        time.sleep(0.1)
