"""What a request's ``model`` means for serving: a base model, or an adapter on top of one.

Base models are called by their registry id (the engine serves its base under that name).
Fine-tuned models and checkpoints must belong to the caller's project and be live; anything
else, another project's model included, is OpenAI's ``model_not_found``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.auth.caller import Caller
from service.blobstore.keys import checkpoint_prefix
from service.models.fine_tuned import FineTunedModelStore
from service.models.registry import ModelRegistry
from service.models.service import model_not_found
from service.serving.model_lookup import ServingLookup
from service.serving.names import engine_adapter_name

_CHECKPOINT_NAME = re.compile(r"ft:.+:ckpt-step-\d+")


@dataclass(frozen=True)
class ServingTarget:
    """Where a request goes: the base model's agents, and the adapter (if any) to apply."""

    model_id: str  # as the caller wrote it
    base_model: str  # registry id, also the engine's served base name
    adapter_name: str | None = None  # engine-side name
    adapter_prefix: str | None = None  # blob prefix of its committed directory

    @property
    def engine_model(self) -> str:
        """The ``model`` the engine is asked for."""
        return self.adapter_name or self.base_model


class ServingModelResolver:
    """Resolves ``model`` for a caller against the registry and the database."""

    def __init__(
        self, registry: ModelRegistry, fine_tuned: FineTunedModelStore, lookup: ServingLookup
    ) -> None:
        self._registry = registry
        self._fine_tuned = fine_tuned
        self._lookup = lookup

    async def resolve(self, caller: Caller, model_id: str) -> ServingTarget:
        """The target of ``model_id``, or ``model_not_found``."""
        if self._registry.get(model_id) is not None:
            return ServingTarget(model_id=model_id, base_model=model_id)
        if not model_id.startswith("ft:"):
            raise model_not_found(model_id)
        record = await self._fine_tuned.get(caller.project_id, model_id)
        if record is not None:
            return self._adapter(model_id, record.base_model, record.blob_prefix)
        if _CHECKPOINT_NAME.fullmatch(model_id):
            checkpoint = await self._lookup.checkpoint(caller.project_id, model_id)
            if checkpoint is not None:
                prefix = checkpoint_prefix(
                    checkpoint.project_id, checkpoint.job_id, checkpoint.step
                )
                return self._adapter(model_id, checkpoint.base_model, prefix)
        raise model_not_found(model_id)

    def _adapter(self, model_id: str, base_model: str, prefix: str) -> ServingTarget:
        if self._registry.get(base_model) is None:
            # The base was removed from this deployment: nothing can serve the adapter.
            raise model_not_found(model_id)
        return ServingTarget(
            model_id=model_id,
            base_model=base_model,
            adapter_name=engine_adapter_name(model_id),
            adapter_prefix=prefix if prefix.endswith("/") else prefix + "/",
        )
