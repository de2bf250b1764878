"""Following a job's events over ``GET /v1/fine_tuning/jobs/{id}/events?stream=true``.

The server replays the events after ``Last-Event-ID`` and then sends new ones until the job is
terminal, ending with an ``event: done``. A dropped connection is resumed from the last event
seen, so no event is lost or shown twice; a stream silent for ``IDLE_READ_TIMEOUT_S`` (a job
queued for long) is simply reopened.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from cli.client.connection import ApiClient
from cli.client.sse import iter_sse

IDLE_READ_TIMEOUT_S = 60.0
MAX_RECONNECTS = 5
RECONNECT_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
_STREAM_TIMEOUT = httpx.Timeout(10.0, read=IDLE_READ_TIMEOUT_S)


def follow_job_events(api: ApiClient, job_id: str) -> Iterator[dict[str, Any]]:
    """The job's events oldest first, then live, until the server says the job has ended."""
    last_id: str | None = None
    failures = 0
    while True:
        headers = {} if last_id is None else {"last-event-id": last_id}
        try:
            with api.stream(
                "GET",
                f"fine_tuning/jobs/{job_id}/events",
                params={"stream": "true"},
                headers=headers,
                timeout=_STREAM_TIMEOUT,
            ) as response:
                for sse in iter_sse(response.iter_lines()):
                    if sse.event == "done":
                        return
                    if sse.id is not None:
                        last_id = sse.id
                    failures = 0
                    yield json.loads(sse.data)
            dropped: Exception = httpx.RemoteProtocolError("the event stream ended early")
        except httpx.ReadTimeout:
            continue  # nothing happened for a while: ask again
        except httpx.TransportError as exc:
            dropped = exc
        failures += 1
        if failures > MAX_RECONNECTS:
            raise dropped
        time.sleep(RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S)) - 1])
