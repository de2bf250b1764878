"""Blobs no row refers to (yet), and the sweep that removes those no row ever came to refer to.

A training attempt records a blob prefix (or key) here *before* it uploads there; the
transaction that writes the row referring to it (the model, the checkpoint, the results file)
adopts the entry, i.e. deletes it. An attempt that loses its claim deletes its uploads itself
and forgets the entry; one that dies (or is stopped) before either leaves the entry behind, and
the ctl worker's sweep deletes the blobs once the entry is older than the grace period. Pruned
checkpoints are recorded the same way in the transaction that deletes their rows, so blobs
whose row is gone are never left behind either.

The sweep dooms an entry (a compare-and-set) before it deletes the blobs, and adoption takes
only undoomed entries, so a commit arriving after the grace period is refused instead of
pointing at deleted blobs. A sweep that dies after dooming is finished by the next one. Each
entry is swept on its own (``queue/poisoned_rows.py``): one whose deletion raises a bug is
logged, counted and skipped from then on, and the entries after it are still swept (even when
more entries than a batch were given up on).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.blobstore.protocol import BlobStore
from service.clock import Clock, to_seconds
from service.db.engine import SessionFactory
from service.db.tables import PendingBlobRow
from service.queue.names import TaskName
from service.queue.poisoned_rows import PoisonedRows

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100


def add_pending_in(
    session: AsyncSession, job_id: str, attempt: int, targets: Sequence[str], *, now_s: int
) -> None:
    """Record ``targets`` (prefixes ending in ``/``, or keys) as pending in ``session``."""
    for target in targets:
        session.add(
            PendingBlobRow(
                target=target, job_id=job_id, attempt=attempt, pending_since=now_s, doomed=False
            )
        )


async def adopt_in(session: AsyncSession, targets: Sequence[str]) -> bool:
    """Take ``targets`` out of the pending set in ``session``, whose transaction writes the rows
    that refer to them; False (roll back) when the sweep doomed any of them already."""
    result = await session.execute(
        delete(PendingBlobRow).where(
            PendingBlobRow.target.in_(list(targets)), PendingBlobRow.doomed.is_(False)
        )
    )
    return bool(result.rowcount == len(set(targets)))  # type: ignore[attr-defined]


async def delete_target(blobs: BlobStore, target: str) -> None:
    """Delete what a pending entry names: every blob under a prefix, or the one key."""
    if target.endswith("/"):
        await blobs.delete_prefix(target)
    else:
        await blobs.delete(target)


class PendingBlobStore:
    """The pending set as a training attempt and the sweep use it."""

    def __init__(self, sessions: SessionFactory, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def add(self, job_id: str, attempt: int, targets: Sequence[str]) -> None:
        """Record ``targets`` before anything is uploaded there."""
        async with self._sessions.begin() as session:
            add_pending_in(
                session, job_id, attempt, targets, now_s=to_seconds(self._clock.now_us())
            )

    async def forget(self, targets: Sequence[str]) -> None:
        """Drop entries whose blobs their writer deleted itself."""
        async with self._sessions.begin() as session:
            await session.execute(
                delete(PendingBlobRow).where(PendingBlobRow.target.in_(list(targets)))
            )

    async def due(self, cutoff_s: int, *, limit: int) -> list[str]:
        """Targets pending since ``cutoff_s`` or earlier, oldest first."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(PendingBlobRow.target)
                .where(PendingBlobRow.pending_since <= cutoff_s)
                .order_by(PendingBlobRow.pending_since, PendingBlobRow.target)
                .limit(limit)
            )
            return [target for (target,) in rows]

    async def doom(self, target: str) -> bool:
        """Mark an entry for deletion; False when a commit adopted it meanwhile."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(PendingBlobRow).where(PendingBlobRow.target == target).values(doomed=True)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]


class PendingBlobSweeper:
    """Deletes the blobs of entries pending longer than ``grace_s``: uploads of attempts that
    lost their claim or died before publishing, and pruned checkpoints a runner did not get to
    delete."""

    def __init__(
        self,
        store: PendingBlobStore,
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
        self.poisoned = PoisonedRows(TaskName.SWEEP)

    async def run_once(self) -> int:
        """Sweep one batch of due entries; return how many were swept."""
        cutoff_s = to_seconds(self._clock.now_us()) - self._grace_s
        swept = 0
        due = await self.poisoned.fetch_fresh(
            lambda limit: self._store.due(cutoff_s, limit=limit), str, limit=self._batch_size
        )
        for target in due:
            async with self.poisoned.handling(target):
                if not await self._store.doom(target):
                    continue
                await delete_target(self._blobs, target)
                await self._store.forget([target])
                swept += 1
                logger.info("deleted unreferenced blobs", extra={"blob_target": target})
        return swept
