"""Routes of the Models API: ``/v1/models``.

Model ids contain ``:`` (``ft:...``) and may contain ``/`` (``org/name`` base models). Newer SDKs
send ``/`` as ``%2F``, older ones raw; the server decodes ``%2F`` before routing, so one ``path``
parameter takes both forms.

``GET /v1/models/{model}/content`` downloads a model. Litestar's ``path`` parameters swallow
the rest of the URL, so every ``GET /v1/models/...`` reaches ``retrieve_model``, which hands a
path ending in ``/content`` to the download unless the whole path is a base model's id (no
``ft:`` name ends in ``/content``: they end in a job id or ``ckpt-step-N``). The download handler
is declared on its own path too, so the OpenAPI document describes it.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

from litestar import Controller, Request, Response, delete, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream

from service.auth.caller import Caller
from service.http.dependencies import CallerDep
from service.models.download import DownloadFormat, ExportPending, ModelDownloads
from service.models.schemas import ModelDeleted, ModelExport, ModelList, ModelObject
from service.models.service import ModelService

ModelsDep: TypeAlias = NamedDependency[ModelService]
DownloadsDep: TypeAlias = NamedDependency[ModelDownloads]

_CONTENT = "/content"
TAR_MEDIA_TYPE = "application/x-tar"

ModelPath = Annotated[
    str,
    PathParameter(description="A model id; `/` may be sent raw or as `%2F`."),
]


def _model_id(model: str) -> str:
    # A ``path`` parameter keeps the separator in front of the first segment.
    return model.removeprefix("/")


FormatQuery = Annotated[
    str,
    QueryParameter(
        description=(
            "`adapter` (the default): the LoRA adapter, tokenizer, model card and checksums. "
            "`merged`: the adapter folded into the base (sharded safetensors, config, "
            "tokenizer, model card, checksums); built once on first request (202 with "
            "`Retry-After` until it is ready)."
        ),
    ),
]
RetryQuery = Annotated[
    bool,
    QueryParameter(description="`format=merged` only: build a failed merged export again."),
]


class _TarStream(Stream):
    """A streamed tar that keeps its own media type whichever handler returns it (a ``Stream``
    takes its handler's, and ``retrieve_model``'s is JSON)."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["media_type"] = TAR_MEDIA_TYPE
        return super().to_asgi_response(*args, **kwargs)


async def _download(
    downloads: ModelDownloads, caller: Caller, model_id: str, format: str, retry: bool = False
) -> _TarStream | Response[ModelExport]:
    # Everything that can refuse the request (access, format, the manifest) runs before the 200;
    # a stored file failing its sha256 mid-stream cuts the body short of its Content-Length.
    archive = await downloads.archive(caller, model_id, format, retry=retry)
    if isinstance(archive, ExportPending):
        return Response(
            ModelExport.of(archive.model, archive.record, archive.retry_after_s),
            status_code=202,
            media_type="application/json",
            headers={"retry-after": str(archive.retry_after_s)},
        )
    return _TarStream(
        archive.chunks,
        media_type=TAR_MEDIA_TYPE,
        headers={
            "content-length": str(archive.size_bytes),
            "content-disposition": f'attachment; filename="{archive.filename}"',
        },
    )


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
        self,
        caller: CallerDep,
        models: ModelsDep,
        downloads: DownloadsDep,
        request: Request[Caller, str, Any],
        model: ModelPath,
    ) -> ModelObject:
        """A base model or one of the project's fine-tuned models."""
        model_id = _model_id(model)
        if model_id.endswith(_CONTENT) and not models.is_base_model(model_id):
            # The download route, which the path parameter swallowed (module docstring).
            format = request.query_params.get("format", DownloadFormat.ADAPTER.value)
            retry = request.query_params.get("retry", "false").lower() in ("true", "1")
            archive = await _download(
                downloads, caller, model_id.removesuffix(_CONTENT), format, retry
            )
            return archive  # type: ignore[return-value]  # a Response passes through as is
        return ModelObject.of(await models.retrieve(caller, model_id))

    @get(
        "/{model:path}/content",
        summary="Download a fine-tuned model",
        media_type=TAR_MEDIA_TYPE,
        responses={
            202: ResponseSpec(
                data_container=ModelExport,
                generate_examples=False,
                description="`format=merged`: the merged model is being built; ask again "
                "after `Retry-After` seconds.",
            )
        },
    )
    async def download_model(
        self,
        caller: CallerDep,
        downloads: DownloadsDep,
        model: ModelPath,
        format: FormatQuery = DownloadFormat.ADAPTER.value,
        retry: RetryQuery = False,
    ) -> Stream:
        """A tar of a directory ``peft.PeftModel.from_pretrained(base, dir)`` loads offline:
        ``adapter_config.json``, ``adapter_model.safetensors``, the base's tokenizer and chat
        template, a model card (``README.md``) and ``checksums`` (``sha256sum -c``). With
        ``format=merged``, a directory ``AutoModelForCausalLM.from_pretrained(dir)`` loads
        instead: sharded ``model*.safetensors``, ``config.json``, ``generation_config.json``,
        the tokenizer, card and checksums; a failed build answers 500
        ``merged_export_failed`` (or the check's own code) until ``retry=true``. Only the
        owning project may download; a project the model is shared with gets 404."""
        return await _download(downloads, caller, _model_id(model), format, retry)  # type: ignore[return-value]

    @delete("/{model:path}", status_code=200, summary="Delete a fine-tuned model")
    async def delete_model(
        self, caller: CallerDep, models: ModelsDep, model: ModelPath
    ) -> ModelDeleted:
        """Delete one of the project's fine-tuned models; it answers 404 at once."""
        model_id = _model_id(model)
        await models.delete(caller, model_id)
        return ModelDeleted(id=model_id, deleted=True)
