"""Database reads serving needs beyond model access: what to unload when a model is deleted.

Which names a caller may call is ``service.models.access``'s business; this module only lists
the names a deleted model was served under, itself and its checkpoints (deleting a model takes
its checkpoints out of service too), for every caller, grantees included.
"""

from __future__ import annotations

from sqlalchemy import select

from service.db.engine import SessionFactory
from service.db.tables import CheckpointRow, FineTunedModelRow


class ServingLookup:
    """Read-only queries on checkpoints and model rows for the gateway."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def served_names_of_model(self, project_id: str, model_id: str) -> list[str]:
        """Public names served for a fine-tuned model (live or deleted): it and its checkpoints."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(FineTunedModelRow.job_id).where(
                        FineTunedModelRow.id == model_id,
                        FineTunedModelRow.project_id == project_id,
                    )
                )
            ).first()
            if row is None:
                return []
            if row.job_id is None:
                return [model_id]  # imported: no job, so no checkpoints
            checkpoints = await connection.scalars(
                select(CheckpointRow.fine_tuned_model_checkpoint).where(
                    CheckpointRow.job_id == row.job_id
                )
            )
            return [model_id, *checkpoints]
