"""The state of a model's merged export, kept as a small record next to the export itself.

A merged export (the LoRA folded into its base, ``gpu_runner.export``) is built once, by the gpu
worker, and cached in the blob store under the job's prefix (``merged_export_prefix``; deleting
the model's job deletes it too), or an imported model's beside its adapter
(``imported_merged_export_prefix``, deleted with the import)::

    .../exports/merged/{digest}/status.json        this record
    .../exports/merged/{digest}/attempts/{n}/...   what attempt n built, manifest.json last

``status.json`` says where the export stands: ``in_progress`` (queued, then ``started_at`` once a
worker took it, and ``heartbeat_at`` every ``HEARTBEAT_INTERVAL_S`` while it builds),
``succeeded`` (with the attempt whose files to serve and the logits check's figures) or
``failed`` (with the error). The download route is the only reader that acts on it
(``MergedExports.ensure``): the first request writes ``in_progress`` and queues the build; a
later request re-queues a build that was lost (its task is no longer queued or running, or its
heartbeat is older than ``STALE_HEARTBEAT_S``: the worker died, and arq would only re-run the
task once its claim expired, hours later on the gpu queue), under a new attempt number, so no
export stays ``in_progress`` for long once anyone asks for it again; ``retry`` starts a failed
one over. Each attempt writes only its own ``attempts/{n}/`` and a worker whose attempt is no
longer the record's writes nothing, so a late zombie cannot overwrite a newer result.

A record rather than a table: the export is a cache of blobs; its state lives and dies with them.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from service.blobstore import BlobStore
from service.blobstore.errors import BlobNotFound
from service.blobstore.keys import imported_merged_export_prefix, merged_export_prefix
from service.clock import Clock, to_seconds
from service.errors import FtapiError
from service.models.access import AdapterModel
from service.queue.names import QueueName, TaskName
from service.queue.protocol import TaskQueue

STATUS_NAME = "status.json"
# A build runs at most this long (the gpu worker's time limit for the task).
BUILD_TIMEOUT_S = 3600
# A building worker stamps the record this often; a started build whose last stamp is older than
# STALE_HEARTBEAT_S was lost with its worker.
HEARTBEAT_INTERVAL_S = 10
STALE_HEARTBEAT_S = 60
# What a client waiting for an export is told to wait between polls.
RETRY_AFTER_S = 5
_MAX_STATUS_BYTES = 1 << 20


class ExportStatus(StrEnum):
    """Where a merged export stands."""

    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ExportError(BaseModel):
    """Why a build failed."""

    code: str
    message: str


class ExportRecord(BaseModel):
    """``status.json``."""

    model: str
    status: ExportStatus
    attempt: int
    created_at: int  # Unix seconds: when the export was first asked for
    queued_at: int  # when this attempt was queued
    started_at: int | None = None
    heartbeat_at: int | None = None
    finished_at: int | None = None
    error: ExportError | None = None
    report: dict[str, Any] | None = None  # the logits check's figures (``MergeReport``)

    def files_prefix(self, prefix: str) -> str:
        """Where this record's attempt keeps its files."""
        return f"{prefix}attempts/{self.attempt}/"


class MergedExportFailed(FtapiError):
    """The merged export's last build failed; ``retry=true`` starts it over."""

    status_code = 500
    error_type = "api_error"
    default_code = "merged_export_failed"
    should_retry = False


def export_prefix(adapter: AdapterModel) -> str:
    """The export's prefix: under the job's, named by a digest of the model's id."""
    digest = hashlib.sha256(adapter.name.encode()).hexdigest()[:32]
    if adapter.job_id is None:  # an imported model has no job: its export sits beside its adapter
        return imported_merged_export_prefix(adapter.blob_prefix, digest)
    return merged_export_prefix(adapter.project_id, adapter.job_id, digest)


def build_task_key(project_id: str, model: str, attempt: int) -> str:
    """arq job id of one build attempt (a new attempt gets a new id: arq keeps no result, but a
    lost task's claim outlives it)."""
    digest = hashlib.sha256(model.encode()).hexdigest()[:32]
    return f"export_merged:{project_id}:{digest}:{attempt}"


async def read_record(blobs: BlobStore, prefix: str) -> ExportRecord | None:
    """The export's record, or None when it was never asked for."""
    try:
        body = b""
        async for chunk in blobs.read_stream(prefix + STATUS_NAME):
            body += chunk
            if len(body) > _MAX_STATUS_BYTES:
                raise ValueError(f"{prefix}{STATUS_NAME} is implausibly large")
    except BlobNotFound:
        return None
    return ExportRecord.model_validate_json(body)


async def write_record(blobs: BlobStore, prefix: str, record: ExportRecord) -> None:
    """Replace the record (a blob write is all or nothing)."""

    async def body() -> Any:
        yield json.dumps(record.model_dump(mode="json"), indent=2).encode()

    await blobs.put_stream(prefix + STATUS_NAME, body())


class MergedExports:
    """The api's side: where an export stands, queueing its build when it must run."""

    def __init__(self, blobs: BlobStore, queue: TaskQueue, clock: Clock) -> None:
        self._blobs = blobs
        self._queue = queue
        self._clock = clock

    async def ensure(self, adapter: AdapterModel, *, retry: bool = False) -> ExportRecord:
        """The export's record after queueing whatever build it needs (module docstring)."""
        prefix = export_prefix(adapter)
        record = await read_record(self._blobs, prefix)
        now = to_seconds(self._clock.now_us())
        if record is None:
            record = ExportRecord(
                model=adapter.name,
                status=ExportStatus.IN_PROGRESS,
                attempt=1,
                created_at=now,
                queued_at=now,
            )
            return await self._queue_attempt(adapter, prefix, record)
        if record.status is ExportStatus.SUCCEEDED:
            return record
        if record.status is ExportStatus.FAILED:
            return await self._next_attempt(adapter, prefix, record, now) if retry else record
        if await self._is_lost(adapter, record, now):
            # Read again: the build may have ended between the two reads.
            latest = await read_record(self._blobs, prefix)
            if latest is not None and latest.attempt == record.attempt:
                return await self._next_attempt(adapter, prefix, latest, now)
            return latest or record
        return record

    async def _is_lost(self, adapter: AdapterModel, record: ExportRecord, now: int) -> bool:
        key = build_task_key(adapter.project_id, adapter.name, record.attempt)
        if not await self._queue.is_pending(key):
            return True
        last_sign = record.heartbeat_at or record.started_at
        return last_sign is not None and now - last_sign > STALE_HEARTBEAT_S

    async def _next_attempt(
        self, adapter: AdapterModel, prefix: str, record: ExportRecord, now: int
    ) -> ExportRecord:
        successor = ExportRecord(
            model=record.model,
            status=ExportStatus.IN_PROGRESS,
            attempt=record.attempt + 1,
            created_at=record.created_at,
            queued_at=now,
        )
        return await self._queue_attempt(adapter, prefix, successor)

    async def _queue_attempt(
        self, adapter: AdapterModel, prefix: str, record: ExportRecord
    ) -> ExportRecord:
        await write_record(self._blobs, prefix, record)
        await self._queue.enqueue(
            TaskName.EXPORT_MERGED,
            adapter.project_id,
            adapter.name,
            record.attempt,
            queue=QueueName.GPU,
            key=build_task_key(adapter.project_id, adapter.name, record.attempt),
        )
        return record
