"""What a request's ``model`` means for serving: a base model, or an adapter on top of one.

Base models are called by their registry id (the engine serves its base under that name).
Fine-tuned models and checkpoints must be live and owned by the caller's project or shared with
it (``service.models.access`` decides); anything else, another project's model included, is
OpenAI's ``model_not_found``.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.auth.caller import Caller
from service.models.access import ModelAccess, model_not_found
from service.models.registry import ModelRegistry
from service.serving.names import engine_adapter_name


@dataclass(frozen=True)
class ServingTarget:
    """Where a request goes: the base model's agents, and the adapter (if any) to apply."""

    model_id: str  # as the caller wrote it
    base_model: str  # registry id, also the engine's served base name
    adapter_name: str | None = None  # engine-side name
    adapter_prefix: str | None = None  # blob prefix of its committed directory
    job_id: str | None = None  # the fine-tuning job that made the adapter

    @property
    def engine_model(self) -> str:
        """The ``model`` the engine is asked for."""
        return self.adapter_name or self.base_model


class ServingModelResolver:
    """Resolves ``model`` for a caller against the registry and the database."""

    def __init__(self, registry: ModelRegistry, access: ModelAccess) -> None:
        self._registry = registry
        self._access = access

    async def resolve(self, caller: Caller, model_id: str) -> ServingTarget:
        """The target of ``model_id``, or ``model_not_found``."""
        if self._registry.get(model_id) is not None:
            return ServingTarget(model_id=model_id, base_model=model_id)
        adapter = await self._access.adapter(caller.project_id, model_id)
        if adapter is None or self._registry.get(adapter.base_model) is None:
            # No such adapter for this caller, or its base was removed from this deployment.
            raise model_not_found(model_id)
        prefix = adapter.blob_prefix
        return ServingTarget(
            model_id=model_id,
            base_model=adapter.base_model,
            # Derived from the public name, so owner and grantees share one loaded adapter.
            adapter_name=engine_adapter_name(model_id),
            adapter_prefix=prefix if prefix.endswith("/") else prefix + "/",
            job_id=adapter.job_id,
        )
