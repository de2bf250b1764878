"""HTTP shapes of the Models API (OpenAI's ``model`` object, its list and its deletion)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from service.models.service import ModelInfo


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
