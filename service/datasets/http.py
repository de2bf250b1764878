"""Dataset extensions of the Files API: ``/v1/files/{id}/report`` and ``/v1/files/{id}/preview``."""

from __future__ import annotations

from typing import Annotated, TypeAlias

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from service.datasets.schemas import DatasetPreviewObject, DatasetReportObject
from service.datasets.service import DatasetService
from service.http.dependencies import CallerDep

DatasetsDep: TypeAlias = NamedDependency[DatasetService]

ModelQuery = Annotated[str, QueryParameter(description="Base model id to tokenize for.")]


class DatasetController(Controller):
    """See what a training file becomes for a model before any GPU time is spent."""

    path = "/files"
    tags = ("Training data",)

    @get("/{file_id:str}/report", summary="Dataset report (extension)")
    async def file_report(
        self, caller: CallerDep, datasets: DatasetsDep, file_id: FromPath[str], model: ModelQuery
    ) -> DatasetReportObject:
        """Examples, tokens (total, trained, per-example spread), truncations and every
        tokenization problem with its line, for the file tokenized with ``model``."""
        report = await datasets.report(caller, file_id, model)
        return DatasetReportObject.of(file_id, report)

    @get("/{file_id:str}/preview", summary="Loss-mask preview of one example (extension)")
    async def file_preview(
        self,
        caller: CallerDep,
        datasets: DatasetsDep,
        file_id: FromPath[str],
        model: ModelQuery,
        line: Annotated[int, QueryParameter(description="1-based line number.", ge=1)] = 1,
    ) -> DatasetPreviewObject:
        """Line ``line`` rendered with the model's chat template and tokenized: each token with
        its trained flag, and the text with trained spans wrapped in ⟦ ⟧."""
        preview = await datasets.preview(caller, file_id, model, line)
        return DatasetPreviewObject.of(file_id, model, preview)
