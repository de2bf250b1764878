"""Real jobs end webhooks: api, ctl worker and a gpu worker running the test trainer; each
terminal state reaches a receiver on 127.0.0.1 as a signed event the SDK unwraps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI
from openai.types.webhooks import (
    FineTuningJobCancelledWebhookEvent,
    FineTuningJobFailedWebhookEvent,
    FineTuningJobSucceededWebhookEvent,
)

from tests.integration.webhooks.conftest import OPEN_WEBHOOKS_ENV
from tests.integration.webhooks.receiver import WebhookReceiver
from tests.support.jobs import (
    TINY_MODEL_ID,
    chat_jsonl,
    stack_config,
    upload_training_file,
    wait_for,
)
from tests.support.services import RedisServer
from tests.support.stack import ApiServer


@pytest.fixture(scope="module")
def job_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, job_registry: Path
) -> Iterator[ApiServer]:
    """Api, ctl worker and one gpu worker, with loopback webhook targets allowed."""
    config = stack_config(
        tmp_path_factory.mktemp("webhook-jobs"),
        redis_server.new_database_url(),
        job_registry,
        **OPEN_WEBHOOKS_ENV,
    )
    with ApiServer(config, gpu_workers=1) as server:
        yield server


@pytest.fixture
def client(job_stack: ApiServer, request: pytest.FixtureRequest) -> Iterator[OpenAI]:
    key = job_stack.new_key(f"wh-{request.node.name}"[:120])
    with OpenAI(
        base_url=job_stack.base_url,
        api_key=key,
        _strict_response_validation=True,
        max_retries=0,
    ) as sdk:
        yield sdk


def test_every_terminal_state_sends_a_signed_event(
    client: OpenAI, receiver: WebhookReceiver
) -> None:
    endpoint = client.webhooks.create(
        url=receiver.url,
        name="jobs",
        event_types=[
            "fine_tuning.job.succeeded",
            "fine_tuning.job.failed",
            "fine_tuning.job.cancelled",
        ],
    )
    good = upload_training_file(client, chat_jsonl(10))
    too_small = upload_training_file(client, chat_jsonl(3), name="small.jsonl")

    succeeded = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=good)
    failed = client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=too_small)
    cancelled = client.fine_tuning.jobs.cancel(
        client.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=good).id
    )
    assert wait_for(client, succeeded.id).status == "succeeded"
    assert wait_for(client, failed.id).status == "failed"

    events = {}
    for request in receiver.wait_for(3, timeout_s=30):
        event = client.webhooks.unwrap(
            request.body, request.headers, secret=endpoint.signing_secret
        )
        events[event.data.id] = event
    assert isinstance(events[succeeded.id], FineTuningJobSucceededWebhookEvent)
    assert isinstance(events[failed.id], FineTuningJobFailedWebhookEvent)
    assert isinstance(events[cancelled.id], FineTuningJobCancelledWebhookEvent)
    assert len(receiver.requests) == 3
