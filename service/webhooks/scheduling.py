"""Queueing one delivery attempt on the ctl queue, where the ``deliver_webhook`` task runs it."""

from __future__ import annotations

import logging

from service.queue.names import QueueName, TaskName, deliver_webhook_key
from service.queue.protocol import TaskQueue

logger = logging.getLogger(__name__)


async def queue_attempt(
    queue: TaskQueue, delivery_id: str, attempt: int, *, defer_s: float | None = None
) -> None:
    """Queue attempt ``attempt`` of a delivery; if Redis is away, the overdue sweep queues it
    later (the delivery row is the source of truth)."""
    try:
        await queue.enqueue(
            TaskName.DELIVER_WEBHOOK,
            delivery_id,
            attempt,
            queue=QueueName.CTL,
            key=deliver_webhook_key(delivery_id, attempt),
            defer_s=defer_s,
        )
    except Exception:
        logger.warning(
            "could not queue a webhook attempt; the overdue sweep will",
            extra={"delivery_id": delivery_id},
        )
