"""Finished jobs become webhook deliveries: the jobs domain's ``JobNotifier``.

Every process that can finish a job (the api cancels, the ctl worker fails jobs in validation and
the reconciler, the gpu worker ends training) builds one; it only writes deliveries and queues
their first attempts, so it needs no sender or target guard.
"""

from __future__ import annotations

from service.clock import Clock, to_seconds
from service.ids import IdPrefix, new_id
from service.jobs.records import JobRecord
from service.queue.protocol import TaskQueue
from service.webhooks.delivery_store import WebhookDeliveryStore
from service.webhooks.endpoint_store import WebhookEndpointStore
from service.webhooks.events import event_body
from service.webhooks.records import EVENT_TYPE_BY_JOB_STATUS, DeliveryRecord, DeliveryStatus
from service.webhooks.scheduling import queue_attempt


class JobWebhookNotifier:
    """Turns a finished job into one delivery per subscribed endpoint."""

    def __init__(
        self,
        endpoints: WebhookEndpointStore,
        deliveries: WebhookDeliveryStore,
        queue: TaskQueue,
        clock: Clock,
    ) -> None:
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._queue = queue
        self._clock = clock

    async def job_finished(self, job: JobRecord) -> None:
        """Queue a delivery of the job's terminal event to each subscribed endpoint.

        Idempotent: a second call for the same job adds no delivery.
        """
        event_type = EVENT_TYPE_BY_JOB_STATUS.get(job.status)
        if event_type is None:
            return
        endpoints = await self._endpoints.subscribed(job.project_id, event_type)
        if not endpoints:
            return
        now_us = self._clock.now_us()
        event_id = new_id(IdPrefix.WEBHOOK_EVENT)
        created_at = job.finished_at or to_seconds(now_us)
        body = event_body(event_id, event_type, created_at, job.id)
        added = await self._deliveries.insert_new(
            [
                DeliveryRecord(
                    id=new_id(IdPrefix.WEBHOOK_DELIVERY),
                    endpoint_id=endpoint.id,
                    project_id=job.project_id,
                    event_id=event_id,
                    event_type=event_type,
                    subject_id=job.id,
                    payload=body,
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    created_at=to_seconds(now_us),
                    created_us=now_us,
                    next_attempt_at=to_seconds(now_us),
                )
                for endpoint in endpoints
            ]
        )
        for delivery in added:
            await queue_attempt(self._queue, delivery.id, 1)
