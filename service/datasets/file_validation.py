"""Content validation of stored fine-tune files, and running it beside the api.

A ``fine-tune`` file is stored with status ``uploaded``; validation streams it through the
validator and records ``processed`` or ``error`` (with the first problems, line numbers included,
in ``status_details``), plus the detected format and example count that job creation checks.
"""

from __future__ import annotations

import asyncio
import logging

from service.blobstore import BlobNotFound, BlobStore
from service.blobstore.keys import file_key
from service.datasets.blob_source import consume_in_thread
from service.datasets.limits import ValidationLimits
from service.datasets.problems import ValidationReport
from service.datasets.validation import validate_jsonl
from service.files.records import FileStatus
from service.files.store import FileStore

logger = logging.getLogger(__name__)


class FileContentValidator:
    """Validates one stored file and records the outcome on its row."""

    def __init__(self, store: FileStore, blobs: BlobStore, limits: ValidationLimits) -> None:
        self._store = store
        self._blobs = blobs
        self._limits = limits

    async def validate(self, project_id: str, file_id: str) -> ValidationReport | None:
        """Validate the file if it still awaits validation; None when there is nothing to do."""
        record = await self._store.get(project_id, file_id)
        if record is None or record.status is not FileStatus.UPLOADED:
            return None
        try:
            report = await consume_in_thread(
                self._blobs.read_stream(file_key(project_id, file_id)),
                lambda chunks: validate_jsonl(chunks, self._limits),
            )
        except BlobNotFound:
            return None  # deleted while queued
        await self._store.record_validation(
            file_id,
            status=FileStatus.PROCESSED if report.ok else FileStatus.ERROR,
            status_details=None if report.ok else report.summary(),
            data_format=None if report.format is None else report.format.value,
            n_examples=report.n_examples,
        )
        return report


class InProcessFileValidation:
    """A ``FileValidationQueue`` running validations as tasks of this process, a few at a time.

    Files left ``uploaded`` by a restart are picked up again by ``resume_pending``.
    """

    def __init__(self, validator: FileContentValidator, store: FileStore, *, concurrency: int = 1):
        self._validator = validator
        self._store = store
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, project_id: str, file_id: str) -> None:
        """Validate the file in the background."""
        task = asyncio.get_running_loop().create_task(self._run(project_id, file_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resume_pending(self, *, batch_size: int = 1000) -> int:
        """Resubmit files still awaiting validation (after a restart); returns how many."""
        pending = await self._store.awaiting_validation(batch_size)
        for project_id, file_id in pending:
            self.submit(project_id, file_id)
        return len(pending)

    async def drain(self) -> None:
        """Wait for every submitted validation to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel what is still running (the files stay ``uploaded`` and resume next start)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _run(self, project_id: str, file_id: str) -> None:
        async with self._slots:
            try:
                await self._validator.validate(project_id, file_id)
            except Exception:
                logger.exception("file validation failed", extra={"file_id": file_id})
