"""The ctl queue's webhook task (registered by the ctl worker)."""

from __future__ import annotations

from typing import Any

from service.runtime import Runtime


async def deliver_webhook(
    ctx: dict[str, Any], delivery_id: str, attempt: int | None = None
) -> None:
    """Make attempt ``attempt`` of a delivery; the next attempt, if any, is queued by it."""
    runtime: Runtime = ctx["runtime"]
    await runtime.webhooks.deliver(delivery_id, attempt)
