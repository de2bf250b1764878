"""Content validation of stored fine-tune files, and running it beside the api.

A ``fine-tune`` file is stored with status ``uploaded``; validation streams it through the
validator and records ``processed`` or ``error`` (with the first problems, line numbers included,
in ``status_details``), plus the detected format and example count that job creation checks.
A validation the ctl worker gives up on (a bug, a full blob store) ends the file in ``error``
too, its ``status_details`` naming ``internal_error`` (with the line, when known) or
``storage_full``.
"""

from __future__ import annotations

import logging

from service.blobstore import BlobNotFound, BlobStore, BlobStoreFull
from service.blobstore.keys import file_key
from service.datasets.blob_source import consume_in_thread
from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.line_crash import LineCrashed
from service.datasets.validation.problems import ValidationReport
from service.datasets.validation.validator import validate_jsonl
from service.files.records import FileStatus
from service.files.store import FileStore
from service.queue.names import QueueName, TaskName, validate_file_key
from service.queue.protocol import TaskQueue

logger = logging.getLogger(__name__)


def gave_up_details(file_id: str, failure: BaseException | None = None) -> str:
    """A given-up file's ``status_details``: a stable code first (as in a problem's
    ``describe``), the line when a bug struck at a known one, and what to do."""
    if isinstance(failure, BlobStoreFull):
        return (
            "storage_full: validation stopped because the blob store has no space left; the "
            "operators have to free or add some. Upload the file again once they have."
        )
    if isinstance(failure, LineCrashed):
        return (
            f"line {failure.line}: internal_error: validation stopped on an internal error at "
            "this line, not on a problem found in it; the operators have the log. Change or "
            f"remove line {failure.line} and upload the file again; if it still fails, contact "
            f"the operators and give them the file id {file_id}."
        )
    return (
        "internal_error: validation stopped on an internal error, not on a problem found in "
        "the file; the operators have the log. Upload the file again; if it fails the same way, "
        f"contact the operators and give them the file id {file_id}."
    )


class FileContentValidator:
    """Validates one stored file and records the outcome on its row."""

    def __init__(self, store: FileStore, blobs: BlobStore, limits: ValidationLimits) -> None:
        self._store = store
        self._blobs = blobs
        self._limits = limits

    async def validate(self, file_id: str) -> ValidationReport | None:
        """Validate the file if it still awaits validation; None when there is nothing to do."""
        record = await self._store.get_any(file_id)
        if record is None or record.status is not FileStatus.UPLOADED:
            return None
        try:
            report = await consume_in_thread(
                self._blobs.read_stream(file_key(record.project_id, file_id)),
                lambda chunks: validate_jsonl(chunks, self._limits),
            )
        except BlobNotFound:
            return None  # deleted while queued
        except (LineCrashed, BlobStoreFull) as failure:
            # The task gives up on these, but only here is it known what to tell the user; the
            # task policy still logs and counts the failure, and ``give_up`` finds the file ended.
            await self._end_in_error(file_id, gave_up_details(file_id, failure))
            raise
        await self._store.record_validation(
            file_id,
            status=FileStatus.PROCESSED if report.ok else FileStatus.ERROR,
            status_details=None if report.ok else report.summary(),
            data_format=None if report.format is None else report.format.value,
            n_examples=report.n_examples,
        )
        return report

    async def give_up(self, file_id: str) -> None:
        """End a file whose validation could not finish in ``error`` (so it is not retried)."""
        await self._end_in_error(file_id, gave_up_details(file_id))

    async def _end_in_error(self, file_id: str, details: str) -> None:
        record = await self._store.get_any(file_id)
        if record is None or record.status is not FileStatus.UPLOADED:
            return
        await self._store.record_validation(
            file_id, status=FileStatus.ERROR, status_details=details, data_format=None, n_examples=0
        )


class QueuedFileValidation:
    """A ``FileValidationQueue`` that hands validation to the ctl workers."""

    def __init__(self, queue: TaskQueue) -> None:
        self._queue = queue

    async def submit(self, project_id: str, file_id: str) -> None:
        """Queue the file's validation (deduplicated per file)."""
        await self._queue.enqueue(
            TaskName.VALIDATE_FILE, file_id, queue=QueueName.CTL, key=validate_file_key(file_id)
        )
