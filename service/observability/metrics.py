"""``/metrics`` in Prometheus' text format.

Request latencies are counted as requests pass; everything else is read at scrape time from
the sources of truth (jobs and deliveries from the database, queue depths from Redis, training
throughput from the newest metrics event of each running job), so every api replica reports the
same totals and no worker needs an endpoint of its own for them.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, get
from litestar.response import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, Histogram, generate_latest

from service.http.runtime import runtime_of
from service.jobs.state_machine import JobStatus
from service.queue.names import QueueName
from service.runtime import Runtime

logger = logging.getLogger(__name__)

HTTP_REQUEST_SECONDS = Histogram(
    "ftapi_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
JOBS = Gauge("ftapi_jobs", "Fine-tuning jobs by status.", ["status"])
QUEUE_DEPTH = Gauge("ftapi_queue_depth", "Tasks waiting or running per arq queue.", ["queue"])
TRAINING_TOKENS_PER_SECOND = Gauge(
    "ftapi_training_tokens_per_second", "Latest reported throughput of each running job.", ["job"]
)
WEBHOOK_DELIVERIES = Gauge("ftapi_webhook_deliveries", "Webhook deliveries by outcome.", ["status"])


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one finished HTTP request (called by the access-log middleware)."""
    HTTP_REQUEST_SECONDS.labels(method, route, str(status)).observe(seconds)


async def refresh(runtime: Runtime) -> None:
    """Read the scrape-time figures from their sources of truth."""
    counts = await runtime.jobs_store.status_counts()
    for status in JobStatus:
        JOBS.labels(status.value).set(counts.get(status.value, 0))
    for queue in QueueName:
        QUEUE_DEPTH.labels(queue.value).set(await runtime.redis.zcard(queue.value))
    running = await runtime.jobs_store.in_statuses([JobStatus.RUNNING], limit=1000)
    latest = await runtime.jobs_store.latest_metrics([job.id for job in running])
    TRAINING_TOKENS_PER_SECOND.clear()
    for job_id, data in latest.items():
        if "tokens_per_second" in data:
            TRAINING_TOKENS_PER_SECOND.labels(job_id).set(float(data["tokens_per_second"]))
    WEBHOOK_DELIVERIES.clear()
    for outcome, count in (await runtime.webhooks.delivery_status_counts()).items():
        WEBHOOK_DELIVERIES.labels(outcome).set(count)


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus exposition (internal: keep it off the public ingress)."""
    try:
        await refresh(runtime_of(request.app))
    except Exception:  # a scrape must still answer with what this process knows
        logger.warning("metrics refresh failed", exc_info=True)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
