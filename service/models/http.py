"""Routes of the Models API: ``/v1/models``.

Model ids contain ``:`` (``ft:...``) and may contain ``/`` (``org/name`` base models). Newer SDKs
send ``/`` as ``%2F``, older ones raw; the server decodes ``%2F`` before routing, so one ``path``
parameter takes both forms.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

from litestar import Controller, delete, get
from litestar.di import NamedDependency
from litestar.params import PathParameter

from service.http.dependencies import CallerDep
from service.models.schemas import ModelDeleted, ModelList, ModelObject
from service.models.service import ModelService

ModelsDep: TypeAlias = NamedDependency[ModelService]

ModelPath = Annotated[
    str,
    PathParameter(description="A model id; `/` may be sent raw or as `%2F`."),
]


def _model_id(model: str) -> str:
    # A ``path`` parameter keeps the separator in front of the first segment.
    return model.removeprefix("/")


class ModelsController(Controller):
    """Base models of this deployment and the project's fine-tuned models."""

    path = "/models"
    tags = ("Models",)

    @get("/", summary="List models")
    async def list_models(self, caller: CallerDep, models: ModelsDep) -> ModelList:
        """Every base model (``owned_by: system``) and the project's fine-tuned models."""
        infos = await models.list_models(caller)
        return ModelList(data=[ModelObject.of(info) for info in infos])

    @get("/{model:path}", summary="Retrieve a model")
    async def retrieve_model(
        self, caller: CallerDep, models: ModelsDep, model: ModelPath
    ) -> ModelObject:
        """A base model or one of the project's fine-tuned models."""
        return ModelObject.of(await models.retrieve(caller, _model_id(model)))

    @delete("/{model:path}", status_code=200, summary="Delete a fine-tuned model")
    async def delete_model(
        self, caller: CallerDep, models: ModelsDep, model: ModelPath
    ) -> ModelDeleted:
        """Delete one of the project's fine-tuned models; it answers 404 at once."""
        model_id = _model_id(model)
        await models.delete(caller, model_id)
        return ModelDeleted(id=model_id, deleted=True)
