"""The Models API's domain: which models a caller may use, and deleting fine-tuned ones.

A caller sees every base model of the registry and its own project's live fine-tuned models;
another project's model answers exactly like a missing one. Base ids never contain ``:`` and
fine-tuned ids always start with ``ft:``, so the two kinds never collide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from service.auth.caller import Caller
from service.clock import Clock, to_seconds
from service.errors import InvalidRequest, NotFound
from service.models.fine_tuned import FineTunedModelRecord, FineTunedModelStore
from service.models.registry import BaseModelSpec, ModelRegistry

SYSTEM_OWNER = "system"


@dataclass(frozen=True)
class ModelInfo:
    """A model as the Models API shows it, plus the base model it runs on."""

    id: str
    created: int
    owned_by: str
    base_model: str  # the registry id it is built on; its own id for a base model

    @property
    def is_fine_tuned(self) -> bool:
        """Whether this is a caller's fine-tuned model rather than a base model."""
        return self.id != self.base_model


def model_not_found(model_id: str) -> NotFound:
    """OpenAI's 404 for a model the caller cannot see."""
    return NotFound(f"The model '{model_id}' does not exist", param="model", code="model_not_found")


class ModelUnpublisher(Protocol):
    """Takes a deleted model out of service: inference replicas unload it (best effort)."""

    async def unpublish(self, project_id: str, model_id: str) -> None: ...


class ModelService:
    """Lists, retrieves and deletes the models a caller may use."""

    def __init__(
        self,
        registry: ModelRegistry,
        store: FineTunedModelStore,
        clock: Clock,
        *,
        unpublisher: ModelUnpublisher | None = None,
    ) -> None:
        self._registry = registry
        self._store = store
        self._clock = clock
        self._unpublisher = unpublisher

    async def list_models(self, caller: Caller) -> list[ModelInfo]:
        """Base models in registry order, then the caller's live fine-tuned models, oldest first."""
        fine_tuned = await self._store.list_live(caller.project_id)
        return [_base_info(spec) for spec in self._registry.models] + [
            _fine_tuned_info(record, caller) for record in fine_tuned
        ]

    async def retrieve(self, caller: Caller, model_id: str) -> ModelInfo:
        """A base model or one of the caller's live fine-tuned models; else ``model_not_found``."""
        if (spec := self._registry.get(model_id)) is not None:
            return _base_info(spec)
        record = await self._store.get(caller.project_id, model_id)
        if record is None:
            raise model_not_found(model_id)
        return _fine_tuned_info(record, caller)

    async def delete(self, caller: Caller, model_id: str) -> None:
        """Delete one of the caller's fine-tuned models: unavailable at once, blobs later.

        Base models belong to the deployment (400 ``model_not_deletable``); anything else the
        caller cannot see is a 404.
        """
        if self._registry.get(model_id) is not None:
            raise InvalidRequest(
                f"The model '{model_id}' is a base model and cannot be deleted; only fine-tuned "
                "models can be.",
                param="model",
                code="model_not_deletable",
            )
        deleted = await self._store.mark_deleted(
            caller.project_id, model_id, deleted_at=to_seconds(self._clock.now_us())
        )
        if not deleted:
            raise model_not_found(model_id)
        if self._unpublisher is not None:
            await self._unpublisher.unpublish(caller.project_id, model_id)


def _base_info(spec: BaseModelSpec) -> ModelInfo:
    return ModelInfo(id=spec.id, created=spec.created, owned_by=SYSTEM_OWNER, base_model=spec.id)


def _fine_tuned_info(record: FineTunedModelRecord, caller: Caller) -> ModelInfo:
    # Only the caller's own project's models are ever shown, so its organization owns them.
    return ModelInfo(
        id=record.id,
        created=record.created_at,
        owned_by=caller.organization_slug,
        base_model=record.base_model,
    )
