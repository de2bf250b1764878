"""Dataset reports and mask previews of a project's training files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from service.auth.caller import Caller
from service.blobstore import BlobStore
from service.blobstore.keys import file_key
from service.clock import Clock, to_seconds
from service.datasets.blob_source import consume_in_thread
from service.datasets.reports.dataset_report import DatasetReport, report_of_jsonl
from service.datasets.reports.store import DatasetReportStore
from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.datasets.tokenization.preview import ExamplePreview
from service.datasets.tokenization.tokenizer_cache import TokenizerCache
from service.datasets.validation.formats import (
    DatasetFormat,
    detect_format,
    normalize_preference_keys,
)
from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.line_crash import LineCrashed
from service.datasets.validation.lines import split_lines
from service.datasets.validation.validator import validate_jsonl
from service.errors import InvalidRequest
from service.files.records import FilePurpose, FileRecord
from service.files.service import FileService
from service.models.registry import ModelRegistry


@dataclass(frozen=True)
class LinePreview:
    """One line of a training file as the model will see it."""

    line: int
    format: DatasetFormat
    preview: ExamplePreview


class DatasetService:
    """Tokenization reports (stored per file and model) and per-line mask previews."""

    def __init__(
        self,
        files: FileService,
        blobs: BlobStore,
        registry: ModelRegistry,
        tokenizers: TokenizerCache,
        reports: DatasetReportStore,
        clock: Clock,
        limits: ValidationLimits,
    ) -> None:
        self._files = files
        self._blobs = blobs
        self._registry = registry
        self._tokenizers = tokenizers
        self._reports = reports
        self._clock = clock
        self._limits = limits

    async def training_file(self, caller: Caller, file_id: str, *, param: str) -> FileRecord:
        """The caller's file, which must have purpose ``fine-tune``."""
        record = await self._files.get(caller, file_id)
        if record.purpose is not FilePurpose.FINE_TUNE:
            raise InvalidRequest(
                f"File {file_id} has purpose '{record.purpose.value}', not 'fine-tune'.",
                param=param,
                code="invalid_file_purpose",
            )
        return record

    async def report(self, caller: Caller, file_id: str, model_id: str) -> DatasetReport:
        """The file's report for ``model_id``, computed on first request and then kept."""
        record = await self.training_file(caller, file_id, param="file_id")
        return await self.report_for(record, model_id)

    async def report_for(self, record: FileRecord, model_id: str) -> DatasetReport:
        """The report of an authorized file (files are immutable, so it never goes stale)."""
        spec = self._registry.require(model_id)
        if (stored := await self._reports.get(record.id, spec.id)) is not None:
            return stored
        tokenizer = await self._tokenizers.get(spec)
        try:
            report = await consume_in_thread(
                self._blobs.read_stream(file_key(record.project_id, record.id)),
                lambda chunks: report_of_jsonl(
                    chunks, tokenizer, model=spec.id, limits=self._limits
                ),
            )
        except LineCrashed as crash:
            raise crash.in_file(record.id) from crash.__cause__
        await self._reports.put(record.id, report, to_seconds(self._clock.now_us()))
        return report

    async def preview(self, caller: Caller, file_id: str, model_id: str, line: int) -> LinePreview:
        """Line ``line`` (1-based) rendered and tokenized, with its trained tokens flagged."""
        record = await self.training_file(caller, file_id, param="file_id")
        spec = self._registry.require(model_id)
        if line < 1:
            raise InvalidRequest("line must be 1 or more.", param="line")
        tokenizer = await self._tokenizers.get(spec)
        raw = await consume_in_thread(
            self._blobs.read_stream(file_key(record.project_id, record.id)),
            lambda chunks: _find_line(chunks, line, self._limits.max_line_bytes),
        )
        if raw is None:
            raise InvalidRequest(f"File {file_id} has no line {line}.", param="line")
        return _preview_line(raw, line, tokenizer, self._limits)


def _find_line(chunks: Iterator[bytes], wanted: int, max_line_bytes: int) -> bytes | None:
    for line_no, line in split_lines(chunks, max_line_bytes):
        if line_no == wanted:
            return line if line is not None else b""
    return None


def _preview_line(
    raw: bytes, line: int, tokenizer: ChatTokenizer, limits: ValidationLimits
) -> LinePreview:
    check = validate_jsonl(
        [raw], ValidationLimits(max_line_bytes=limits.max_line_bytes, min_examples=0)
    )
    if not check.ok:
        problem = check.problems[0]
        raise InvalidRequest(
            f"Line {line} is not a valid training example: {problem.message}",
            param="line",
            code=problem.code,
        )
    example: dict[str, Any] = msgspec.json.decode(raw)
    example_format = detect_format(example) or DatasetFormat.CHAT
    if example_format is DatasetFormat.PREFERENCE:
        normalize_preference_keys(example)
    return LinePreview(
        line=line, format=example_format, preview=tokenizer.render_preview(example, example_format)
    )
