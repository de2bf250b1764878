"""Publishing a training attempt's adapter as a fine-tuned model, fenced by the attempt's claim.

The adapter is uploaded under the attempt's own prefix (``adapter_prefix(project, job, n)``)
and the ``step_metrics.csv`` results under a fresh file's key, both recorded as pending blobs
first. The model then comes to exist in ONE transaction that

1. makes the job's ``running → succeeded`` compare-and-set on attempt ``n`` (the fence, handed
   in by the runner, so this package needs no knowledge of the job state machine);
2. adopts the pending entries (refused when the sweep doomed them);
3. inserts the ``fine_tuned_models`` row, pointing at the adapter prefix, and the results file.

When the fence or the adoption fails the transaction rolls back: no model and no results file
exist, and the attempt deletes its uploads (a runner that dies first leaves them to the pending
blobs sweep). A published prefix is never written again: only attempt ``n`` writes under
``attempts/{n}/``, and it publishes at most once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from service.blobstore import BlobStore, BlobStoreFull
from service.blobstore.directories import upload_directory
from service.blobstore.keys import adapter_prefix, file_key
from service.clock import Clock, to_seconds
from service.db.engine import SessionFactory
from service.files.records import FilePurpose, FileRecord, FileStatus
from service.files.store import add_file_in
from service.ids import IdPrefix, new_id
from service.models.fine_tuned import FineTunedModelRecord, add_model_in
from service.models.parity_probes import MANIFEST_KEY as PROBES_MANIFEST_KEY
from service.models.pending_blobs import PendingBlobStore, adopt_in, delete_target

logger = logging.getLogger(__name__)

RESULTS_FILENAME = "step_metrics.csv"


class PublicationFence(Protocol):
    """The attempt's claim, checked and ended inside the publication's transaction."""

    async def __call__(self, session: AsyncSession, model: str, results_file_id: str) -> bool:
        """Move the job to its terminal state in ``session`` (recording ``model`` and the
        results file); False when the attempt no longer holds the job."""
        ...


@dataclass(frozen=True)
class TrainedAdapter:
    """An attempt's trained adapter and results, and the model they become."""

    model: str  # the public ``ft:`` name
    project_id: str
    organization_id: str
    job_id: str
    attempt: int
    base_model: str  # the registry base at the root
    adapter_dir: Path
    step_metrics_csv: bytes
    parity_probes: dict[str, Any] | None = None  # manifest entry, ``service.models.parity_probes``


class _ClaimLost(Exception):
    """Rolls the publication's transaction back."""


class ModelPublisher:
    """Uploads an attempt's adapter and makes it a model only while the attempt holds its job."""

    def __init__(
        self, sessions: SessionFactory, blobs: BlobStore, pending: PendingBlobStore, clock: Clock
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._pending = pending
        self._clock = clock

    async def publish(self, trained: TrainedAdapter, fence: PublicationFence) -> bool:
        """Upload, then publish in one fenced transaction; False (nothing published, the
        uploads deleted) when the attempt lost its claim. BlobStoreFull (the uploads deleted)
        when the store has no room for the adapter."""
        prefix = adapter_prefix(trained.project_id, trained.job_id, trained.attempt)
        results_id = new_id(IdPrefix.FILE)
        results_key = file_key(trained.project_id, results_id)
        targets = [prefix, results_key]
        await self._pending.add(trained.job_id, trained.attempt, targets)
        try:
            await upload_directory(
                self._blobs,
                prefix,
                trained.adapter_dir,
                extra={
                    "model": trained.model,
                    "base_model": trained.base_model,
                    "job_id": trained.job_id,
                }
                | (
                    {}
                    if trained.parity_probes is None
                    else {PROBES_MANIFEST_KEY: trained.parity_probes}
                ),
            )
            results = await self._blobs.put_stream(results_key, _once(trained.step_metrics_csv))
        except BlobStoreFull:
            # What did fit would only take more space: free it now rather than at the sweep.
            await self._discard(targets)
            raise
        now_us = self._clock.now_us()
        model = FineTunedModelRecord(
            id=trained.model,
            project_id=trained.project_id,
            organization_id=trained.organization_id,
            job_id=trained.job_id,
            base_model=trained.base_model,
            blob_prefix=prefix,
            created_at=to_seconds(now_us),
        )
        results_file = FileRecord(
            id=results_id,
            project_id=trained.project_id,
            purpose=FilePurpose.FINE_TUNE_RESULTS,
            filename=RESULTS_FILENAME,
            bytes=results.size_bytes,
            sha256=results.sha256,
            status=FileStatus.PROCESSED,
            status_details=None,
            created_at=to_seconds(now_us),
            created_us=now_us,
            expires_at=None,
        )
        try:
            async with self._sessions.begin() as session:
                if not await fence(session, trained.model, results_id):
                    raise _ClaimLost
                if not await adopt_in(session, targets):
                    raise _ClaimLost
                add_model_in(session, model)
                add_file_in(session, results_file)
        except _ClaimLost:
            logger.warning(
                "attempt lost its claim before publishing; its adapter is discarded",
                extra={"job_id": trained.job_id, "attempt": trained.attempt},
            )
            await self._discard(targets)
            return False
        return True

    async def _discard(self, targets: list[str]) -> None:
        for target in targets:
            await delete_target(self._blobs, target)
        await self._pending.forget(targets)


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body
