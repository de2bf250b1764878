"""May a project call this model? The one check evals make at create, for the sampled model of a
completions run and for every model a grader asks.

The same rule as the inference gateway's (``service/serving/gateway/targets.py``): a base model
of the registry, or a live fine-tuned model or checkpoint the project owns or was shared
(``service/models/access.py``). A grader may also name a model the operator serves on the
evals' grader endpoint (``FTAPI_EVALS__GRADER_MODELS``). Anything else is 400
``model_not_found`` naming the field.
"""

from __future__ import annotations

from service.errors import InvalidRequest
from service.evals.model_calls import is_operator_grader_model
from service.models.access import ModelAccess
from service.models.registry import ModelRegistry
from service.settings import EvalSettings


class CallableModels:
    """Answers "may project P call model X" from the registry and the database."""

    def __init__(self, registry: ModelRegistry, access: ModelAccess, settings: EvalSettings):
        self._registry = registry
        self._access = access
        self._settings = settings

    async def require(self, project_id: str, model: str, *, param: str, grader: bool) -> None:
        """Raise 400 ``model_not_found`` unless the project may call ``model`` (as a grader
        model when ``grader``)."""
        if grader and is_operator_grader_model(self._settings, model):
            return
        if self._registry.get(model) is not None:
            return
        adapter = await self._access.adapter(project_id, model)
        if adapter is None or self._registry.get(adapter.base_model) is None:
            raise InvalidRequest(
                f"The model '{model[:256]}' does not exist or this project may not call it.",
                param=param,
                code="model_not_found",
            )
