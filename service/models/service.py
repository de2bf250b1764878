"""The Models API's domain: which models a caller may use, and deleting fine-tuned ones.

A caller sees every base model of the registry and the live fine-tuned models and checkpoints
its project owns or was granted (``service.models.access``); another project's model answers
exactly like a missing one. Base ids never contain ``:`` and fine-tuned ids always start with
``ft:``, so the two kinds never collide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from service.auth.caller import Caller
from service.clock import Clock, to_seconds
from service.errors import InvalidRequest
from service.models.access import AdapterKind, AdapterModel, ModelAccess
from service.models.access import model_not_found as model_not_found  # re-exported
from service.models.fine_tuned import FineTunedModelStore
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


class ModelUnpublisher(Protocol):
    """Takes a deleted model out of service: inference replicas unload it (best effort)."""

    async def unpublish(self, project_id: str, model_id: str) -> None: ...


class ModelService:
    """Lists, retrieves and deletes the models a caller may use."""

    def __init__(
        self,
        registry: ModelRegistry,
        store: FineTunedModelStore,
        access: ModelAccess,
        clock: Clock,
        *,
        unpublisher: ModelUnpublisher | None = None,
    ) -> None:
        self._registry = registry
        self._store = store
        self._access = access
        self._clock = clock
        self._unpublisher = unpublisher

    async def list_models(self, caller: Caller) -> list[ModelInfo]:
        """Base models in registry order, then the fine-tuned models and checkpoints the caller
        owns or was granted, oldest first."""
        adapters = await self._access.visible(caller.project_id)
        return [_base_info(spec) for spec in self._registry.models] + [
            _adapter_info(adapter, caller) for adapter in adapters
        ]

    def is_base_model(self, model_id: str) -> bool:
        """Whether ``model_id`` is a base model of the registry."""
        return self._registry.get(model_id) is not None

    async def retrieve(self, caller: Caller, model_id: str) -> ModelInfo:
        """A base model, or a live fine-tuned model or checkpoint the caller owns or was
        granted; else ``model_not_found``."""
        if (spec := self._registry.get(model_id)) is not None:
            return _base_info(spec)
        adapter = await self._access.adapter(caller.project_id, model_id)
        if adapter is None:
            raise model_not_found(model_id)
        return _adapter_info(adapter, caller)

    async def delete(self, caller: Caller, model_id: str) -> None:
        """Delete one of the caller's fine-tuned models: unavailable at once, blobs later.

        Base models belong to the deployment and checkpoints go with their model (400
        ``model_not_deletable``); anything else the caller does not own is a 404, a model
        shared with it included.
        """
        if self._registry.get(model_id) is not None:
            raise InvalidRequest(
                f"The model '{model_id}' is a base model and cannot be deleted; only fine-tuned "
                "models can be.",
                param="model",
                code="model_not_deletable",
            )
        owned = await self._access.owned(caller.project_id, model_id)
        if owned is not None and owned.kind is AdapterKind.CHECKPOINT:
            raise InvalidRequest(
                f"The model '{model_id}' is a checkpoint and cannot be deleted on its own; "
                "delete its fine-tuned model, which takes its checkpoints out of service too.",
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


def _adapter_info(adapter: AdapterModel, caller: Caller) -> ModelInfo:
    # Own models and models shared within the organization: the caller's organization owns both.
    return ModelInfo(
        id=adapter.name,
        created=adapter.created,
        owned_by=caller.organization_slug,
        base_model=adapter.base_model,
    )
