"""Webhook fixtures: a recording receiver, the webhook parts of a process in-process, and live
apis."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from arq.connections import ArqRedis

from service.auth.caller import Caller
from service.auth.store import ProjectStore
from service.clock import Clock
from service.db.engine import SessionFactory
from service.db.migrate import upgrade_database_async
from service.ids import IdPrefix, new_id
from service.jobs.methods import Hyperparameters, SupervisedSpec
from service.jobs.records import JobRecord
from service.jobs.state_machine import JobStatus
from service.queue.protocol import TaskQueue
from service.settings import RedisSettings, Settings, WebhooksSettings
from service.webhooks.factory import build_job_webhook_notifier
from service.webhooks.job_notifier import JobWebhookNotifier
from service.webhooks.service import WebhookService
from service.wiring.resources import Resources
from service.wiring.shared import webhook_service
from tests.integration.webhooks.receiver import WebhookReceiver
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, StackConfig

OPEN_WEBHOOKS_ENV = {
    "FTAPI_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
    "FTAPI_WEBHOOKS__RETRY_SCHEDULE_S": "[0.5]",
    "FTAPI_WEBHOOKS__RETRY_JITTER_RATIO": "0",
}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on 127.0.0.1 that records requests (200 unless told otherwise)."""
    server = WebhookReceiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def open_webhook_settings(**overrides: object) -> WebhooksSettings:
    """Webhook settings for tests: loopback allowed, 1 s retries, 3 attempts."""
    values: dict[str, object] = {
        "allow_private_targets": True,
        "retry_schedule_s": [1],
        "retry_jitter_ratio": 0,
        "max_attempts": 3,
        "delivery_timeout_s": 5,
    }
    return WebhooksSettings.model_validate(values | overrides)


@dataclass(frozen=True)
class WebhookParts:
    """What a process builds for webhooks, on its resources, plus the projects to act for."""

    resources: Resources
    projects: ProjectStore
    webhooks: WebhookService
    notifier: JobWebhookNotifier

    @property
    def queue(self) -> TaskQueue:
        return self.resources.queue

    @property
    def redis(self) -> ArqRedis:
        return self.resources.redis

    @property
    def sessions(self) -> SessionFactory:
        return self.resources.sessions

    @property
    def clock(self) -> Clock:
        return self.resources.clock


@asynccontextmanager
async def webhook_parts(settings: Settings) -> AsyncIterator[WebhookParts]:
    """The webhook service and the finished-job notifier, wired as the processes wire them."""
    resources = Resources.open(settings)
    parts = WebhookParts(
        resources,
        ProjectStore(resources.sessions, resources.clock),
        webhook_service(resources),
        build_job_webhook_notifier(resources.sessions, resources.queue, resources.clock),
    )
    try:
        yield parts
    finally:
        await parts.webhooks.close()
        await resources.close()
        # Closing leaves the pool it handed to ArqRedis open (redis-py closes only pools it
        # created itself); close it so no connection outlives the test's event loop.
        await resources.redis.connection_pool.disconnect()


@pytest.fixture
async def parts(tmp_path: Path, redis_url: str) -> AsyncIterator[WebhookParts]:
    """Webhook parts on a fresh SQLite database and their own Redis database, with loopback
    webhook targets allowed. No worker consumes their queue: tests run attempts."""
    settings = Settings(
        data_dir=tmp_path / "ftapi",
        redis=RedisSettings(url=redis_url),
        webhooks=open_webhook_settings(),
    )
    settings.data_dir.mkdir(parents=True)
    await upgrade_database_async(settings.database_url)
    async with webhook_parts(settings) as built:
        yield built


async def new_caller(parts: WebhookParts, project: str) -> Caller:
    """A caller acting for ``project`` (created if new)."""
    organization_id = await parts.projects.ensure_organization(
        parts.resources.settings.organization_slug
    )
    project_id = await parts.projects.ensure_project(organization_id, project)
    caller = await parts.projects.system_caller(project_id)
    assert caller is not None
    return caller


@pytest.fixture
async def caller(parts: WebhookParts) -> Caller:
    """A caller of a project of its own."""
    return await new_caller(parts, "webhooks")


def finished_job(caller: Caller, status: JobStatus = JobStatus.SUCCEEDED) -> JobRecord:
    """A job record in ``status`` as the jobs domain hands it to its notifier."""
    now_us = time.time_ns() // 1000
    return JobRecord(
        id=new_id(IdPrefix.JOB),
        project_id=caller.project_id,
        organization_id=caller.organization_id,
        model="ftapi/tiny-chatml",
        training_file="file-abc",
        validation_file=None,
        suffix=None,
        seed=7,
        method=SupervisedSpec(
            Hyperparameters(n_epochs=1, batch_size=1, learning_rate_multiplier=1.0)
        ),
        integrations=None,
        metadata=None,
        status=status,
        created_at=now_us // 1_000_000,
        created_us=now_us,
        finished_at=now_us // 1_000_000,
    )


@pytest.fixture(scope="module")
def open_api(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[ApiServer]:
    """A live api and ctl worker that allow loopback webhook targets and retry after 0.5 s."""
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("webhooks-open"),
        redis_url=redis_server.new_database_url(),
        extra_env=OPEN_WEBHOOKS_ENV,
    )
    with ApiServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def guarded_api(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[ApiServer]:
    """A live api with the default webhook settings (internal targets refused)."""
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("webhooks-guarded"),
        redis_url=redis_server.new_database_url(),
    )
    with ApiServer(config, ctl_worker=False) as server:
        yield server
