"""The event body a webhook carries: OpenAI's thin shape, serialized once and sent as is."""

from __future__ import annotations

import json

from service.webhooks.records import WebhookEventType


def event_body(
    event_id: str, event_type: WebhookEventType, created_at: int, subject_id: str
) -> str:
    """``{"id": "evt_…", "object": "event", "created_at": …, "type": …, "data": {"id": …}}``.

    Consumers fetch the job for details; the body stays small and its bytes are what is signed.
    """
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "created_at": created_at,
            "type": event_type.value,
            "data": {"id": subject_id},
        },
        separators=(",", ":"),
    )
