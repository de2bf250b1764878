"""Which adapter a model name denotes for a project: the one access rule for ``ft:`` names.

A project may use a fine-tuned model or checkpoint when it owns it, or when the owner shared
that name with it (a ``checkpoint_permissions`` grant). Either way the thing must be live:

- a fine-tuned model is live until ``DELETE /v1/models/{id}`` stamps it;
- a checkpoint is live while its job's model is: before the job published one (the job is
  still running, or stopped short of success) or while that model is not deleted. A succeeded
  job whose model row is gone (deleted, then purged) has no live checkpoints.

Everything that takes an ``ft:`` name from a caller (the Models API, the gateway, job creation,
sharing) asks here, so owning, sharing and deleting mean the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.engine import SessionFactory
from service.db.tables import CheckpointPermissionRow, CheckpointRow, FineTunedModelRow, JobRow
from service.errors import NotFound
from service.models.naming import root_base_model
from service.models.registry import BaseModelSpec, ModelRegistry

# The stored status of a job that has published its model (``JobStatus.SUCCEEDED``). Models sit
# below jobs and do not import them, so the value is named here; a test pins it to the enum.
PUBLISHED_JOB_STATUS = "succeeded"


class AdapterKind(StrEnum):
    """What an ``ft:`` name points at."""

    MODEL = "model"  # a published fine-tuned model
    CHECKPOINT = "checkpoint"  # a job's checkpoint (``…:ckpt-step-N``)


@dataclass(frozen=True)
class AdapterModel:
    """A fine-tuned model or checkpoint as one project may use it."""

    name: str  # the public ``ft:`` name
    kind: AdapterKind
    project_id: str  # the owner
    job_id: str | None  # None for an imported model: no job made it
    base_model: str  # the registry base at the root, whatever it was fine-tuned from
    blob_prefix: str  # the committed directory holding the adapter (for checkpoints: in adapter/)
    created: int
    shared: bool = False  # reached through another project's grant, not owned


def model_not_found(model_id: str) -> NotFound:
    """OpenAI's 404 for a model the caller cannot see."""
    return NotFound(f"The model '{model_id}' does not exist", param="model", code="model_not_found")


class ModelAccess:
    """Answers "may project P use the model named X, and what is it" from the database."""

    def __init__(self, registry: ModelRegistry, sessions: SessionFactory):
        self._registry = registry
        self._sessions = sessions

    async def adapter(self, project_id: str, name: str) -> AdapterModel | None:
        """The live model or checkpoint ``name`` that ``project_id`` owns or was granted."""
        if not name.startswith("ft:"):
            return None
        async with self._sessions.read() as connection:
            own = await _owned(connection, project_id, name)
            if own is not None:
                return own
            owner = await connection.scalar(
                select(CheckpointPermissionRow.project_id).where(
                    CheckpointPermissionRow.model_name == name,
                    CheckpointPermissionRow.grantee_project_id == project_id,
                )
            )
            if owner is None:
                return None
            shared = await _owned(connection, owner, name)
            return None if shared is None else replace(shared, shared=True)

    async def owned(self, project_id: str, name: str) -> AdapterModel | None:
        """The live model or checkpoint ``name`` of ``project_id`` itself (grants aside)."""
        if not name.startswith("ft:"):
            return None
        async with self._sessions.read() as connection:
            return await _owned(connection, project_id, name)

    async def visible(self, project_id: str) -> list[AdapterModel]:
        """Every live model and checkpoint the project owns or was granted, oldest first."""
        async with self._sessions.read() as connection:
            models = await connection.execute(
                select(FineTunedModelRow).where(
                    FineTunedModelRow.project_id == project_id,
                    FineTunedModelRow.deleted_at.is_(None),
                )
            )
            found = [_model(row) for row in models]
            checkpoints = await connection.execute(
                _live_checkpoints().where(CheckpointRow.project_id == project_id)
            )
            found += [_checkpoint(row) for row in checkpoints]
            grants = (
                await connection.execute(
                    select(CheckpointPermissionRow.project_id, CheckpointPermissionRow.model_name)
                    .where(CheckpointPermissionRow.grantee_project_id == project_id)
                    .order_by(CheckpointPermissionRow.created_us, CheckpointPermissionRow.id)
                )
            ).all()
            found += [
                replace(adapter, shared=True) for adapter in await _granted(connection, grants)
            ]
        return sorted(found, key=lambda adapter: (adapter.created, adapter.name))

    async def trainable_base(self, project_id: str, model: str) -> BaseModelSpec:
        """The registry base a job on ``model`` trains: ``model`` itself when it is a base, else
        the root base of a fine-tuned model or checkpoint the project may use.

        An unknown base is a 400 ``model_not_available``; an ``ft:`` name the project cannot
        use (missing, deleted, another project's and not shared) is OpenAI's 404.
        """
        if not model.startswith("ft:"):
            return self._registry.require(model)
        adapter = await self.adapter(project_id, model)
        spec = None if adapter is None else self._registry.get(adapter.base_model)
        if spec is None:
            raise model_not_found(model)
        return spec


async def _owned(connection: AsyncConnection, project_id: str, name: str) -> AdapterModel | None:
    row = (
        await connection.execute(
            select(FineTunedModelRow).where(
                FineTunedModelRow.id == name,
                FineTunedModelRow.project_id == project_id,
                FineTunedModelRow.deleted_at.is_(None),
            )
        )
    ).first()
    if row is not None:
        return _model(row)
    found = (
        await connection.execute(
            _live_checkpoints().where(
                CheckpointRow.fine_tuned_model_checkpoint == name,
                CheckpointRow.project_id == project_id,
            )
        )
    ).first()
    return None if found is None else _checkpoint(found)


async def _granted(
    connection: AsyncConnection, grants: Sequence[Row[str, str]]
) -> list[AdapterModel]:
    """The live models and checkpoints among (owner, name) grants, in two queries in all."""
    if not grants:
        return []
    names = {name for _, name in grants}
    models = await connection.execute(
        select(FineTunedModelRow).where(
            FineTunedModelRow.id.in_(names), FineTunedModelRow.deleted_at.is_(None)
        )
    )
    checkpoints = await connection.execute(
        _live_checkpoints().where(CheckpointRow.fine_tuned_model_checkpoint.in_(names))
    )
    live = {
        (adapter.project_id, adapter.name): adapter
        for adapter in [*map(_model, models), *map(_checkpoint, checkpoints)]
    }
    return [live[owner, name] for owner, name in grants if (owner, name) in live]


def _live_checkpoints() -> Select[CheckpointRow, str]:
    """Checkpoints (with their job's model, ``job_model``) whose job's model is live or not yet
    published."""
    model = FineTunedModelRow
    return (
        select(CheckpointRow, JobRow.model.label("job_model"))
        .join(JobRow, JobRow.id == CheckpointRow.job_id)
        .outerjoin(model, model.job_id == CheckpointRow.job_id)
        .where(
            or_(
                and_(model.id.is_not(None), model.deleted_at.is_(None)),
                and_(model.id.is_(None), JobRow.status != PUBLISHED_JOB_STATUS),
            )
        )
    )


def _model(row: FineTunedModelRow | Row[Any]) -> AdapterModel:
    return AdapterModel(
        name=row.id,
        kind=AdapterKind.MODEL,
        project_id=row.project_id,
        job_id=row.job_id,
        base_model=row.base_model,
        blob_prefix=row.blob_prefix,
        created=row.created_at,
    )


def _checkpoint(row: Row[CheckpointRow, str]) -> AdapterModel:
    """A row of ``_live_checkpoints``: a checkpoint's columns and ``job_model``."""
    return AdapterModel(
        name=row.fine_tuned_model_checkpoint,
        kind=AdapterKind.CHECKPOINT,
        project_id=row.project_id,
        job_id=row.job_id,
        base_model=root_base_model(row.job_model),
        blob_prefix=row.blob_prefix,
        created=row.created_at,
    )
