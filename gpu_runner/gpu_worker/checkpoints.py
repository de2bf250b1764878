"""One attempt's checkpoints: blobs under the attempt's own prefix, rows only while it holds the
job.

Each checkpoint is recorded as pending, uploaded under ``checkpoint_prefix(project, job, n,
step)``, then added by ``JobStore.add_checkpoint``: one transaction that checks the job is still
running on attempt ``n``, adopts the pending entry, inserts the row (with its blob prefix, which
is where resuming, serving and deleting read it from) and prunes the oldest rows. A refused
checkpoint's blobs are deleted at once; pruned ones are deleted after the commit (both stay
pending until then, so a runner dying in between leaves them to the sweep).
"""

from __future__ import annotations

import logging
from pathlib import Path

from service.blobstore import BlobStore, BlobStoreFull
from service.blobstore.directories import upload_directory
from service.blobstore.keys import checkpoint_prefix
from service.clock import Clock, to_seconds
from service.ids import IdPrefix, new_id
from service.jobs import messages
from service.jobs.records import CheckpointRecord, JobRecord
from service.jobs.store import JobStore
from service.models.pending_blobs import PendingBlobStore

logger = logging.getLogger(__name__)


class AttemptCheckpoints:
    """Saves the checkpoints of one claimed attempt of ``job``."""

    def __init__(
        self,
        job: JobRecord,
        store: JobStore,
        blobs: BlobStore,
        pending: PendingBlobStore,
        clock: Clock,
        *,
        keep: int,
    ) -> None:
        self._job = job
        self._store = store
        self._blobs = blobs
        self._pending = pending
        self._clock = clock
        self._keep = keep
        self._written: set[int] = set()

    async def save(
        self,
        step: int,
        directory: Path,
        metrics: dict[str, float],
        name: str,
        *,
        best_metric: str | None = None,
    ) -> bool:
        """Store the checkpoint of ``step`` as the public model ``name``; False when refused.
        The job's best checkpoint by ``best_metric`` is never pruned.

        BlobStoreFull when the store has no room for it; nothing of it is left behind then.
        """
        job = self._job
        if step in self._written:
            return False  # its prefix may be a recorded checkpoint: never written twice
        self._written.add(step)
        prefix = checkpoint_prefix(job.project_id, job.id, job.attempt, step)
        await self._pending.add(job.id, job.attempt, [prefix])
        try:
            await upload_directory(self._blobs, prefix, directory, extra={"step": step})
        except BlobStoreFull:
            # The files stored before the one that did not fit would only take more space.
            await self._blobs.delete_prefix(prefix)
            await self._pending.forget([prefix])
            raise
        now_us = self._clock.now_us()
        pruned = await self._store.add_checkpoint(
            CheckpointRecord(
                id=new_id(IdPrefix.CHECKPOINT),
                job_id=job.id,
                project_id=job.project_id,
                created_at=to_seconds(now_us),
                created_us=now_us,
                step_number=step,
                metrics={"step": float(step)} | metrics,
                fine_tuned_model_checkpoint=name,
                blob_prefix=prefix,
            ),
            messages.checkpoint_saved(name, step),
            attempt=job.attempt,
            keep=self._keep,
            best_metric=best_metric,
        )
        if pruned is None:
            logger.warning(
                "checkpoint refused: the attempt no longer holds the job, or the step exists",
                extra={"job_id": job.id, "attempt": job.attempt, "step": step},
            )
            await self._blobs.delete_prefix(prefix)
            await self._pending.forget([prefix])
            return False
        for old in pruned:
            await self._blobs.delete_prefix(old.blob_prefix)
        if pruned:
            await self._pending.forget([old.blob_prefix for old in pruned])
        return True
