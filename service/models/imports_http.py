"""The route of adapter imports: ``POST /v1/models/import`` (an ftapi extension).

OpenAI has no import; the route sits beside the Models API and answers OpenAI's ``model``
object, so ``client.post("/models/import", body=..., cast_to=openai.types.Model)`` reads it.
``GET``/``DELETE /v1/models/import`` stay what they were: a model id (no ``ft:`` name and no
registry id is ``import``).
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from pydantic import Field

from service.http.dependencies import CallerDep
from service.http.schemas import InputModel
from service.models.imports import ImportRequest, ModelImports
from service.models.schemas import ModelObject

ImportsDep: TypeAlias = NamedDependency[ModelImports]


class ModelImportCreate(InputModel):
    """``POST /v1/models/import``."""

    file: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            description=(
                "A File (purpose `user_data`) holding the adapter as a tar or tar.gz: "
                "`adapter_config.json` and `adapter_model.safetensors`, at the root or in one "
                "top-level directory."
            ),
        ),
    ]
    base_model: Annotated[
        str,
        Field(
            min_length=1,
            max_length=256,
            description="The registry base model the adapter was trained on.",
        ),
    ]
    suffix: Annotated[
        str | None,
        Field(
            default=None,
            max_length=64,
            description="Up to 64 characters added to the new model's name.",
        ),
    ] = None


class ModelImportsController(Controller):
    """Adapters trained elsewhere, made fine-tuned models of the caller's project."""

    path = "/models/import"
    tags = ("Models",)

    @post("/", status_code=200, summary="Import a LoRA adapter as a fine-tuned model")
    async def import_model(
        self, caller: CallerDep, imports: ImportsDep, data: JSONBody[ModelImportCreate]
    ) -> ModelObject:
        """Validate the uploaded adapter (hostile archives and adapters that do not fit the base
        are 400 with nothing stored) and publish it as a new `ft:` model of the project."""
        record = await imports.import_adapter(
            caller, ImportRequest(file=data.file, base_model=data.base_model, suffix=data.suffix)
        )
        return ModelObject(
            id=record.id, created=record.created_at, owned_by=caller.organization_slug
        )
