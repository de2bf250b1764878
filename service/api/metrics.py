"""``/metrics`` in Prometheus' text format.

Request latencies are counted as requests pass (``service/http/request_context.py``);
everything else is read at scrape time from the sources of truth (jobs and deliveries from the
database, queue depths from Redis, training throughput from the newest metrics event of each
running job), so every api replica reports the same totals and no worker needs an endpoint of
its own for them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from arq.connections import ArqRedis
from litestar import get
from litestar.di import NamedDependency
from litestar.response import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from service.jobs.state_machine import JobStatus
from service.jobs.store import JobStore
from service.queue.names import TASKS_GIVEN_UP_KEY, QueueName
from service.webhooks.service import WebhookService

logger = logging.getLogger(__name__)

JOBS = Gauge("ftapi_jobs", "Fine-tuning jobs by status.", ["status"])
QUEUE_DEPTH = Gauge("ftapi_queue_depth", "Tasks waiting or running per arq queue.", ["queue"])
TRAINING_TOKENS_PER_SECOND = Gauge(
    "ftapi_training_tokens_per_second", "Latest reported throughput of each running job.", ["job"]
)
WEBHOOK_DELIVERIES = Gauge("ftapi_webhook_deliveries", "Webhook deliveries by outcome.", ["status"])


class _GivenUpTasks(Collector):
    """``ftapi_tasks_given_up_total{task}``: a counter kept by the workers in a Redis hash
    (service/queue/task_policy.py), exposed as last read."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "ftapi_tasks_given_up",
            "Background tasks given up (their object ended in its error state), by task.",
            labels=["task"],
        )
        for task, count in sorted(self.counts.items()):
            family.add_metric([task], count)
        yield family


TASKS_GIVEN_UP = _GivenUpTasks()
REGISTRY.register(TASKS_GIVEN_UP)


@dataclass(frozen=True)
class MetricSources:
    """Where the scrape-time figures are read (the api builds one and injects it)."""

    jobs: JobStore
    redis: ArqRedis  # the queues' Redis
    webhooks: WebhookService


async def refresh(sources: MetricSources) -> None:
    """Read the scrape-time figures from their sources of truth."""
    counts = await sources.jobs.status_counts()
    for status in JobStatus:
        JOBS.labels(status.value).set(counts.get(status.value, 0))
    for queue in QueueName:
        QUEUE_DEPTH.labels(queue.value).set(await sources.redis.zcard(queue.value))
    # redis-py types its hash commands as "sync or async", whichever client runs them.
    given_up: dict[bytes, bytes] = await sources.redis.hgetall(TASKS_GIVEN_UP_KEY)  # type: ignore[misc]
    TASKS_GIVEN_UP.counts = {_text(task): int(count) for task, count in given_up.items()}
    running = await sources.jobs.in_statuses([JobStatus.RUNNING], limit=1000)
    latest = await sources.jobs.latest_metrics([job.id for job in running])
    TRAINING_TOKENS_PER_SECOND.clear()
    for job_id, data in latest.items():
        if "tokens_per_second" in data:
            TRAINING_TOKENS_PER_SECOND.labels(job_id).set(float(data["tokens_per_second"]))
    WEBHOOK_DELIVERIES.clear()
    for outcome, count in (await sources.webhooks.delivery_status_counts()).items():
        WEBHOOK_DELIVERIES.labels(outcome).set(count)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@get("/metrics", include_in_schema=False)
async def metrics(metric_sources: NamedDependency[MetricSources]) -> Response[bytes]:
    """Prometheus exposition (internal: keep it off the public ingress)."""
    try:
        await refresh(metric_sources)
    except Exception:  # a scrape must still answer with what this process knows
        logger.warning("metrics refresh failed", exc_info=True)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
