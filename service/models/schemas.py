"""HTTP shapes of the Models API (OpenAI's ``model`` object, its list and its deletion, a merged
export in progress) and of
checkpoint permissions (``checkpoint.permission``, its creation and deletion)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from service.http.schemas import InputModel
from service.models.merged_exports import ExportRecord
from service.models.permissions import PermissionRecord
from service.models.service import ModelInfo

MAX_PROJECTS_PER_GRANT = 100


class ModelObject(BaseModel):
    """OpenAI's ``model`` object (``created``, not ``created_at``)."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    shutdown_date: str | None = None

    @classmethod
    def of(cls, info: ModelInfo) -> ModelObject:
        """The wire shape of a model."""
        return cls(id=info.id, created=info.created, owned_by=info.owned_by)


class ModelList(BaseModel):
    """``GET /v1/models``: every model at once (the SDK never asks for a second page)."""

    object: Literal["list"] = "list"
    data: list[ModelObject]


class ModelDeleted(BaseModel):
    """The answer to ``DELETE /v1/models/{model}``."""

    id: str
    object: Literal["model"] = "model"
    deleted: bool


class ModelExport(BaseModel):
    """``GET /v1/models/{model}/content?format=merged`` while the merged model is being built
    (an ftapi extension; the 202's body)."""

    object: Literal["model.export"] = "model.export"
    model: str
    format: Literal["merged"] = "merged"
    status: Literal["in_progress"] = "in_progress"
    created_at: int  # when the export was first asked for
    started_at: int | None  # when a worker began the current attempt (None: still queued)
    attempt: int
    retry_after: int  # seconds; also the ``Retry-After`` header

    @classmethod
    def of(cls, model: str, record: ExportRecord, retry_after_s: int) -> ModelExport:
        """The wire shape of an export in progress."""
        return cls(
            model=model,
            created_at=record.created_at,
            started_at=record.started_at,
            attempt=record.attempt,
            retry_after=retry_after_s,
        )


class PermissionCreate(InputModel):
    """``POST /v1/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions``."""

    project_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]],
        Field(
            min_length=1,
            max_length=MAX_PROJECTS_PER_GRANT,
            description="Projects of this organization to share the model with.",
        ),
    ]


class PermissionObject(BaseModel):
    """OpenAI's ``checkpoint.permission``: ``project_id`` may use the model."""

    id: str
    object: Literal["checkpoint.permission"] = "checkpoint.permission"
    created_at: int
    project_id: str

    @classmethod
    def of(cls, record: PermissionRecord) -> PermissionObject:
        """The wire shape of a grant."""
        return cls(id=record.id, created_at=record.created_at, project_id=record.grantee_project_id)


class PermissionDeleted(BaseModel):
    """The answer to deleting a checkpoint permission."""

    id: str
    object: Literal["checkpoint.permission"] = "checkpoint.permission"
    deleted: bool
