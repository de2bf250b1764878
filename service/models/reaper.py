"""The blob reaper: a deleted fine-tuned model's blobs go once its grace period has passed.

``DELETE /v1/models/{id}`` stamps ``deleted_at`` and unloads the adapter everywhere, but keeps
the blobs for ``models.deleted_blob_grace_s`` (an operator can still recover a mistake). The
ctl worker's cron then calls ``run_once``: for each model deleted longer ago than that, it
deletes the published adapter (the model's ``blob_prefix``) and everything its job stored
(every attempt's checkpoints and adapters, under the job's prefix), then stamps
``blobs_deleted_at``. The row itself stays: it keeps the model's name taken and its checkpoints
out of service.

Safe to repeat and to run on several workers at once: deleting a prefix that is already empty
is not an error, and the stamp is a compare-and-set on ``blobs_deleted_at IS NULL``. A pass that
dies between the deletes and the stamp is finished by the next one. Each model is reaped on its
own (``queue/poisoned_rows.py``): one whose deletes raise a bug is logged, counted and skipped
from then on, and the models after it are still reaped (even when more models than a batch were
given up on).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update

from service.blobstore.keys import imported_model_root, job_prefix
from service.blobstore.protocol import BlobStore
from service.clock import Clock, to_seconds
from service.db.engine import SessionFactory
from service.db.tables import FineTunedModelRow
from service.queue.names import TaskName
from service.queue.poisoned_rows import PoisonedRows

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100


@dataclass(frozen=True)
class ExpiredModel:
    """A deleted model whose blobs are due to go."""

    id: str
    project_id: str
    job_id: str | None  # None for an imported model: its blobs are all under its prefix
    blob_prefix: str


class ExpiredModelStore:
    """The reaper's reads and writes of ``fine_tuned_models``."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def due(self, cutoff_s: int, *, limit: int) -> list[ExpiredModel]:
        """Models deleted at or before ``cutoff_s`` whose blobs are still there, oldest first."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(
                    FineTunedModelRow.id,
                    FineTunedModelRow.project_id,
                    FineTunedModelRow.job_id,
                    FineTunedModelRow.blob_prefix,
                )
                .where(
                    FineTunedModelRow.deleted_at.is_not(None),
                    FineTunedModelRow.deleted_at <= cutoff_s,
                    FineTunedModelRow.blobs_deleted_at.is_(None),
                )
                .order_by(FineTunedModelRow.deleted_at, FineTunedModelRow.id)
                .limit(limit)
            )
            return [ExpiredModel(*row) for row in rows]

    async def mark_reaped(self, model_id: str, *, at_s: int) -> bool:
        """Stamp ``blobs_deleted_at``; False when another pass stamped it first."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(FineTunedModelRow)
                .where(
                    FineTunedModelRow.id == model_id,
                    FineTunedModelRow.deleted_at.is_not(None),
                    FineTunedModelRow.blobs_deleted_at.is_(None),
                )
                .values(blobs_deleted_at=at_s)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]


class ModelBlobReaper:
    """Deletes the adapter and checkpoint blobs of models deleted more than ``grace_s`` ago."""

    def __init__(
        self,
        store: ExpiredModelStore,
        blobs: BlobStore,
        clock: Clock,
        *,
        grace_s: int,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._clock = clock
        self._grace_s = grace_s
        self._batch_size = batch_size
        self.poisoned = PoisonedRows(TaskName.REAP_MODEL_BLOBS)

    async def run_once(self) -> int:
        """Reap one batch of due models; return how many this pass stamped."""
        now_s = to_seconds(self._clock.now_us())
        reaped = 0
        due = await self.poisoned.fetch_fresh(
            lambda limit: self._store.due(now_s - self._grace_s, limit=limit),
            _model_id,
            limit=self._batch_size,
        )
        for model in due:
            async with self.poisoned.handling(model.id):
                if await self._reap(model, now_s):
                    reaped += 1
        return reaped

    async def _reap(self, model: ExpiredModel, now_s: int) -> bool:
        if model.job_id is None:  # imported: its root holds the adapter and any merged export
            objects = await self._blobs.delete_prefix(imported_model_root(model.blob_prefix))
        else:
            objects = await self._blobs.delete_prefix(model.blob_prefix)
            objects += await self._blobs.delete_prefix(job_prefix(model.project_id, model.job_id))
        if not await self._store.mark_reaped(model.id, at_s=now_s):
            return False
        logger.info("deleted %d blobs of deleted model %s", objects, model.id)
        return True


def _model_id(model: ExpiredModel) -> str:
    return model.id
