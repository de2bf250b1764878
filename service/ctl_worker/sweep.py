"""The sweep cron's pass: four clean-ups that do not depend on each other, run in order.

    step                what it removes
    ──────────────────  ──────────────────────────────────────────────────────────────────
    uploads             overdue pending uploads (expired) and parts left by finished ones
    expired files       files past their ``expires_at``, row and body
    abandoned writes    temp files (local) or multipart uploads (S3) of writers that died
    pending blobs       uploads of training attempts that never published them

Each step handles each of its rows on its own through the pass's ``PoisonedRows``: a row whose
handling raises a bug is given up (logged once, counted, skipped by this worker from then on)
and the step goes on. A step that fails as a whole on a bug is logged and counted, and the
steps after it still run. An outage ends the pass; the next tick is the retry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from service.blobstore.protocol import AbandonedWrite, BlobStore
from service.files.service import FileService
from service.models.pending_blobs import PendingBlobSweeper
from service.queue.names import TaskName
from service.queue.outages import is_outage
from service.queue.poisoned_rows import PoisonedRows
from service.uploads.service import UploadService

logger = logging.getLogger(__name__)

ABANDONED_WRITES_BATCH = 500


class Sweep:
    """One sweep pass at a time; safe to run on several ctl workers (each removal is
    idempotent)."""

    def __init__(
        self,
        uploads: UploadService,
        files: FileService,
        blobs: BlobStore,
        pending_blobs: PendingBlobSweeper,
        *,
        abandoned_write_s: float,
    ) -> None:
        self._uploads = uploads
        self._files = files
        self._blobs = blobs
        self._pending_blobs = pending_blobs
        self._abandoned_write_s = abandoned_write_s
        self.poisoned = PoisonedRows(TaskName.SWEEP)

    async def run_once(self) -> int:
        """Run every step; returns the rows and steps it gave up on."""
        steps: list[tuple[str, Callable[[], Awaitable[int]]]] = [
            ("uploads", lambda: self._uploads.sweep(self.poisoned)),
            ("expired files", lambda: self._files.delete_expired(self.poisoned)),
            ("abandoned writes", self._discard_abandoned_writes),
            ("pending blobs", self._pending_blobs.run_once),
        ]
        steps_failed = 0
        for name, step in steps:
            try:
                await step()
            except Exception as exc:
                if is_outage(exc):
                    raise
                steps_failed += 1
                logger.error(
                    "sweep: the %s step failed; the steps after it still run",
                    name,
                    exc_info=exc,
                    extra={"task": TaskName.SWEEP.value, "step": name},
                )
        rows_given_up = self.poisoned.take_given_up()
        rows_given_up += self._pending_blobs.poisoned.take_given_up()
        return steps_failed + rows_given_up

    async def _discard_abandoned_writes(self) -> int:
        writes = await self.poisoned.fetch_fresh(
            lambda limit: self._blobs.abandoned_writes(self._abandoned_write_s, limit=limit),
            _write_id,
            limit=ABANDONED_WRITES_BATCH,
        )
        discarded = 0
        for write in writes:
            async with self.poisoned.handling(write.id):
                discarded += await self._blobs.discard_abandoned(write)
        return discarded


def _write_id(write: AbandonedWrite) -> str:
    return write.id
