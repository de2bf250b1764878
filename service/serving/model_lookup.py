"""Database reads serving needs beyond the fine-tuned models store: checkpoints as models.

A checkpoint is callable by its ``fine_tuned_model_checkpoint`` name (``…:ckpt-step-N``) from
the project that owns it, unless the job's fine-tuned model has been deleted (deleting a model
takes its checkpoints out of service too).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.db.tables import CheckpointRow, FineTunedModelRow, JobRow


@dataclass(frozen=True)
class CheckpointModel:
    """A checkpoint callable as a model."""

    name: str
    project_id: str
    job_id: str
    step: int
    base_model: str


class ServingLookup:
    """Read-only queries on checkpoints and model rows for the gateway."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def checkpoint(self, project_id: str, name: str) -> CheckpointModel | None:
        """The project's callable checkpoint ``name``, or None."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(CheckpointRow.job_id, CheckpointRow.step_number, JobRow.model)
                    .join(JobRow, JobRow.id == CheckpointRow.job_id)
                    .where(
                        CheckpointRow.fine_tuned_model_checkpoint == name,
                        CheckpointRow.project_id == project_id,
                    )
                )
            ).first()
            if row is None:
                return None
            job_id, step, base_model = row
            deleted = await session.scalar(
                select(FineTunedModelRow.id).where(
                    FineTunedModelRow.job_id == job_id,
                    FineTunedModelRow.deleted_at.is_not(None),
                )
            )
            if deleted is not None:
                return None
            return CheckpointModel(name, project_id, job_id, step, base_model)

    async def served_names_of_model(self, project_id: str, model_id: str) -> list[str]:
        """Public names served for a fine-tuned model (live or deleted): it and its checkpoints."""
        async with self._sessions() as session:
            job_id = await session.scalar(
                select(FineTunedModelRow.job_id).where(
                    FineTunedModelRow.id == model_id, FineTunedModelRow.project_id == project_id
                )
            )
            if job_id is None:
                return []
            checkpoints = await session.scalars(
                select(CheckpointRow.fine_tuned_model_checkpoint).where(
                    CheckpointRow.job_id == job_id
                )
            )
            return [model_id, *checkpoints]
