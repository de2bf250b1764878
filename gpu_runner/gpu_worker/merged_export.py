"""The gpu-queue handler of merged exports: build one, store it, record how it went.

The merge runs on the gpu worker because it is the process kind with torch installed and the
base model's weights at hand (its training cache; the api image has neither, and the ctl
worker's image has no torch). Like training, it runs in a child process
(``python -m gpu_runner.export``), so this module stays free of torch and a crash or an
out-of-memory kill of the merge ends only the child. The gpu queue runs one task at a time per
worker, so an export waits behind a training attempt running on the same worker.

The record (``service.models.merged_exports``) is the export's state: this attempt writes
``started_at`` and a heartbeat while it builds, then either its files (``attempts/{n}/``,
``manifest.json`` last) and ``succeeded``, or ``failed`` with the child's error. It writes
nothing once the record has moved on to a newer attempt (``ensure`` re-queued it as lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import gpu_runner
from service.blobstore import BlobStore
from service.blobstore.directories import (
    CorruptDirectory,
    download_file,
    read_manifest,
    upload_directory,
)
from service.clock import Clock, to_seconds
from service.models.access import AdapterModel, ModelAccess
from service.models.adapter_blobs import adapter_blobs
from service.models.merged_exports import (
    HEARTBEAT_INTERVAL_S,
    ExportError,
    ExportRecord,
    ExportStatus,
    export_prefix,
    read_record,
    write_record,
)
from service.models.registry import ModelRegistry
from service.models.sources import ModelFiles

logger = logging.getLogger(__name__)

_PACKAGE_ROOT = str(Path(gpu_runner.__file__).resolve().parent.parent)
_CHILD_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}
_STDERR_TAIL_BYTES = 4000
INTERNAL_ERROR = ExportError(
    code="internal_error", message="The merged export failed on an internal error; retry it."
)


def merge_command(
    base_dir: Path, adapter_dir: Path, out_dir: Path, report: Path, chat_template: Path | None
) -> list[str]:
    """The child process's command line."""
    command = [
        sys.executable,
        "-m",
        "gpu_runner.export",
        str(base_dir),
        str(adapter_dir),
        str(out_dir),
        str(report),
    ]
    if chat_template is not None:
        command += ["--chat-template", str(chat_template)]
    return command


class MergedExportBuilder:
    """Builds merged exports taken from the gpu queue."""

    def __init__(
        self,
        access: ModelAccess,
        registry: ModelRegistry,
        model_files: ModelFiles,
        blobs: BlobStore,
        clock: Clock,
    ) -> None:
        self._access = access
        self._registry = registry
        self._model_files = model_files
        self._blobs = blobs
        self._clock = clock

    async def build(self, project_id: str, model_id: str, attempt: int) -> None:
        """Build attempt ``attempt`` of ``model_id``'s export, unless it is no longer due."""
        adapter = await self._access.owned(project_id, model_id)
        if adapter is None:
            return  # deleted since: its export goes with its job's blobs
        prefix = export_prefix(adapter)
        record = await read_record(self._blobs, prefix)
        due = record is not None and record.attempt == attempt
        if record is None or not due or record.status is not ExportStatus.IN_PROGRESS:
            return  # built already, or a newer attempt owns the export
        record = record.model_copy(update={"started_at": self._now(), "heartbeat_at": None})
        await write_record(self._blobs, prefix, record)
        # The heartbeat stops before the outcome is written, so it never writes over it.
        heartbeat = asyncio.create_task(self._beat(prefix, record))
        try:
            outcome = await self._make(adapter, model_id, prefix, record)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        if outcome is not None:
            error, report = outcome
            await self._finish(prefix, record, error=error, report=report)

    async def _make(
        self, adapter: AdapterModel, model_id: str, prefix: str, record: ExportRecord
    ) -> tuple[ExportError | None, dict[str, object] | None] | None:
        """Merge and store; the outcome to record (None: a newer attempt owns the export)."""
        spec = self._registry.get(adapter.base_model)
        if spec is None:
            return ExportError(
                code="base_model_unavailable",
                message=f"The base model '{adapter.base_model}' is no longer offered here.",
            ), None
        with tempfile.TemporaryDirectory(prefix="ftapi-export-") as scratch:
            work = Path(scratch)
            await self._fetch_adapter(adapter.blob_prefix, work / "adapter")
            template = None
            if spec.chat_template is not None:
                template = work / "chat_template.jinja"
                await asyncio.to_thread(template.write_text, spec.chat_template)
            base_dir = await self._model_files.local_dir(spec)
            out_dir, report_path = work / "merged", work / "report.json"
            returncode, stderr = await _run(
                merge_command(base_dir, work / "adapter", out_dir, report_path, template)
            )
            report = await asyncio.to_thread(_read_report, report_path)
            if returncode != 0:
                error = report.get("error")
                if error is None:
                    logger.error("merge of %s exited %s: %s", model_id, returncode, stderr)
                    return INTERNAL_ERROR, None
                return ExportError(**error), None
            if await self._superseded(prefix, record):
                return None
            await upload_directory(self._blobs, record.files_prefix(prefix), out_dir)
        return None, report

    async def _beat(self, prefix: str, record: ExportRecord) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            if await self._superseded(prefix, record):
                return
            beat = record.model_copy(update={"heartbeat_at": self._now()})
            try:
                await write_record(self._blobs, prefix, beat)
            except Exception:  # a missed beat is retried at the next; the build goes on
                logger.warning("heartbeat of %s failed", prefix, exc_info=True)

    async def give_up(self, project_id: str, model_id: str, attempt: int) -> None:
        """The task was given up: the export fails with ``internal_error`` (it can be retried)."""
        adapter = await self._access.owned(project_id, model_id)
        if adapter is None:
            return
        prefix = export_prefix(adapter)
        record = await read_record(self._blobs, prefix)
        due = record is not None and record.attempt == attempt
        if due and record is not None and record.status is ExportStatus.IN_PROGRESS:
            await self._finish(prefix, record, error=INTERNAL_ERROR)

    async def _fetch_adapter(self, blob_prefix: str, target: Path) -> None:
        prefix = blob_prefix if blob_prefix.endswith("/") else blob_prefix + "/"
        manifest = await read_manifest(self._blobs, prefix)
        if manifest is None:
            raise CorruptDirectory(f"no committed manifest under {prefix}")
        await asyncio.to_thread(target.mkdir, parents=True)
        for blob in adapter_blobs(manifest, prefix):
            path = target / blob.name
            size = await download_file(self._blobs, blob.key, path)
            digest = await asyncio.to_thread(_sha256, path)
            if size != blob.size_bytes or digest != blob.sha256:
                raise CorruptDirectory(f"{blob.key} does not match its manifest")

    async def _superseded(self, prefix: str, record: ExportRecord) -> bool:
        latest = await read_record(self._blobs, prefix)
        return latest is None or latest.attempt != record.attempt

    async def _finish(
        self,
        prefix: str,
        record: ExportRecord,
        *,
        error: ExportError | None = None,
        report: dict[str, object] | None = None,
    ) -> None:
        if await self._superseded(prefix, record):
            return
        status = ExportStatus.FAILED if error is not None else ExportStatus.SUCCEEDED
        await write_record(
            self._blobs,
            prefix,
            record.model_copy(
                update={
                    "status": status,
                    "finished_at": self._now(),
                    "error": error,
                    "report": report,
                }
            ),
        )

    def _now(self) -> int:
        return to_seconds(self._clock.now_us())


async def _run(command: list[str]) -> tuple[int, str]:
    """Run the merge child to its end (killed with its group if this task is cancelled)."""
    env = os.environ | _CHILD_ENV
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        _, stderr = await process.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        await process.wait()
        raise
    return process.returncode or 0, stderr[-_STDERR_TAIL_BYTES:].decode(errors="replace")


def _read_report(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
