"""Importing a LoRA adapter trained elsewhere as a fine-tuned model of the caller's project.

The adapter arrives as a tar (or ``.tar.gz``) uploaded through the Files or Uploads API with
``purpose=user_data``; ``POST /v1/models/import`` names that file and the registry base model.
The import then, in the api process (a few hundred MB of reading and hashing, in threads):

1. copies the file to a temporary file and reads the adapter out of it with every rule of
   ``service.models.adapter_archive`` (hostile archives are 400 ``invalid_archive``);
2. checks the adapter with ``validate_adapter`` (the same rules as a trained one: rank, target
   modules, safetensors only, no ``modules_to_save``…), that its config names the base and its
   tensors fit the base's modules (``service.models.adapter_fit``): 400 ``invalid_adapter``;
3. publishes it as a trained adapter is published: the prefix is recorded as a pending blob
   (under the import's id), the two files and a manifest are uploaded under
   ``projects/{project}/imports/{import_id}/adapter/``, and ONE transaction adopts the pending
   entry and inserts the ``fine_tuned_models`` row, with no job (``job_id`` NULL). Anything
   failing before the commit deletes the uploads; a process dying in between leaves them to the
   pending blobs sweep.

The model is then an ``ft:{base}:{org}:{suffix}:{id}`` model like any other: listed, retrieved,
called, shared, downloaded, deleted, and fine-tuned further. It records no parity probes (no
trainer saw it), which the serving agent takes as "served unchecked".
"""

from __future__ import annotations

import asyncio
import logging
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from service.auth.caller import Caller
from service.blobstore import BlobStore
from service.blobstore.directories import upload_directory
from service.blobstore.keys import file_key, imported_adapter_prefix
from service.clock import Clock, to_seconds
from service.db.engine import SessionFactory
from service.errors import FtapiError, InvalidRequest, NotFound
from service.files.records import FilePurpose
from service.files.store import FileStore
from service.ids import IdPrefix, new_id
from service.models.adapter_archive import ArchiveLimits, HostileArchive, read_adapter_archive
from service.models.adapter_fit import base_name_problem, base_weight_shapes, shape_problems
from service.models.adapters import (
    ADAPTER_WEIGHTS_NAME,
    InvalidAdapterError,
    read_safetensors_header,
    validate_adapter,
)
from service.models.fine_tuned import FineTunedModelRecord, add_model_in
from service.models.naming import fine_tuned_model_name
from service.models.pending_blobs import PendingBlobStore, adopt_in, delete_target
from service.models.registry import BaseModelSpec, ModelRegistry
from service.models.sources import ModelFiles

logger = logging.getLogger(__name__)

IMPORT_FILE_PURPOSE = FilePurpose.USER_DATA
# The pending entry's ``attempt`` (an import has exactly one).
_IMPORT_ATTEMPT = 1


@dataclass(frozen=True)
class ImportRequest:
    """What ``POST /v1/models/import`` asks for, shapes already checked."""

    file: str  # the uploaded archive's File id
    base_model: str  # a registry id
    suffix: str | None = None


class _Discarded(Exception):
    """Rolls the import's transaction back (the sweep doomed the pending entry)."""


class ModelImports:
    """Turns an uploaded adapter archive into a fine-tuned model of the caller's project."""

    def __init__(
        self,
        registry: ModelRegistry,
        model_files: ModelFiles,
        blobs: BlobStore,
        sessions: SessionFactory,
        clock: Clock,
        *,
        limits: ArchiveLimits | None = None,
        scratch_dir: Path | None = None,
    ) -> None:
        self._registry = registry
        self._model_files = model_files
        self._blobs = blobs
        self._sessions = sessions
        self._files = FileStore(sessions)
        self._pending = PendingBlobStore(sessions, clock)
        self._clock = clock
        self._limits = limits or ArchiveLimits()
        self._scratch_dir = scratch_dir

    async def import_adapter(self, caller: Caller, request: ImportRequest) -> FineTunedModelRecord:
        """The new model; 400s and 404s as the module docstring says, nothing stored then."""
        spec = self._registry.require(request.base_model, param="base_model")
        record = await self._files.get(caller.project_id, request.file)
        if record is None:
            raise NotFound(f"No such File object: {request.file}", param="file")
        if record.purpose != IMPORT_FILE_PURPOSE:
            raise InvalidRequest(
                f"File {request.file} has purpose '{record.purpose}'; upload the adapter "
                f"archive with purpose '{IMPORT_FILE_PURPOSE}'.",
                param="file",
                code="invalid_file_purpose",
            )
        if record.bytes > self._limits.max_archive_bytes:
            raise _invalid_archive(
                f"the archive is {record.bytes} bytes: at most {self._limits.max_archive_bytes}"
            )
        with tempfile.TemporaryDirectory(dir=self._scratch_dir, prefix="ftapi-import-") as tmp:
            scratch = Path(tmp)
            adapter_dir = scratch / "adapter"
            adapter_dir.mkdir()
            with (scratch / "archive").open("w+b") as archive:
                await self._spool(file_key(caller.project_id, request.file), archive)
                try:
                    await asyncio.to_thread(
                        read_adapter_archive, archive, adapter_dir, self._limits
                    )
                except HostileArchive as exc:
                    raise _invalid_archive(str(exc)) from None
            await self._check_adapter(adapter_dir, spec)
            return await self._publish(caller, request, spec, adapter_dir)

    async def _spool(self, key: str, archive: BinaryIO) -> None:
        async for chunk in self._blobs.read_stream(key):
            await asyncio.to_thread(archive.write, chunk)
        archive.seek(0)

    async def _check_adapter(self, adapter_dir: Path, spec: BaseModelSpec) -> None:
        try:
            info = validate_adapter(adapter_dir, max_lora_rank=spec.max_lora_rank)
        except InvalidAdapterError as exc:
            raise _invalid_adapter(exc.problems) from None
        problems = _layout_problems(adapter_dir / ADAPTER_WEIGHTS_NAME)
        if (named := base_name_problem(info.base_model, spec)) is not None:
            problems.append(named)
        base_dir = await self._model_files.local_dir(spec)
        base_shapes = await asyncio.to_thread(base_weight_shapes, base_dir)
        if not base_shapes:  # the deployment's fault, not the caller's: a 500, not a 400
            raise FtapiError(f"the base model {spec.id} has no safetensors weights in {base_dir}")
        header = read_safetensors_header(adapter_dir / ADAPTER_WEIGHTS_NAME)
        problems += shape_problems(header, base_shapes, info.rank)
        if problems:
            raise _invalid_adapter(problems)

    async def _publish(
        self, caller: Caller, request: ImportRequest, spec: BaseModelSpec, adapter_dir: Path
    ) -> FineTunedModelRecord:
        import_id = new_id(IdPrefix.MODEL_IMPORT)
        random_part = import_id.removeprefix(IdPrefix.MODEL_IMPORT.value)
        name = fine_tuned_model_name(spec.id, caller.organization_slug, request.suffix, random_part)
        prefix = imported_adapter_prefix(caller.project_id, import_id)
        await self._pending.add(import_id, _IMPORT_ATTEMPT, [prefix])
        try:
            await upload_directory(
                self._blobs,
                prefix,
                adapter_dir,
                extra={
                    "model": name,
                    "base_model": spec.id,
                    "import_id": import_id,
                    "imported_from_file": request.file,
                },
            )
            model = FineTunedModelRecord(
                id=name,
                project_id=caller.project_id,
                organization_id=caller.organization_id,
                job_id=None,
                base_model=spec.id,
                blob_prefix=prefix,
                created_at=to_seconds(self._clock.now_us()),
            )
            async with self._sessions.begin() as session:
                if not await adopt_in(session, [prefix]):
                    raise _Discarded
                add_model_in(session, model)
        except BaseException:
            await delete_target(self._blobs, prefix)
            await self._pending.forget([prefix])
            raise
        logger.info(
            "imported adapter as %s", name, extra={"import_id": import_id, "file_id": request.file}
        )
        return model


def _layout_problems(weights: Path) -> list[str]:
    """The safetensors file's tensors lie inside it, back to back (``validate_adapter`` reads
    its header only)."""
    with weights.open("rb") as handle:
        (header_bytes,) = struct.unpack("<Q", handle.read(8))
    data_bytes = weights.stat().st_size - 8 - header_bytes
    header = read_safetensors_header(weights)
    ends = []
    for name, entry in header.items():
        offsets = entry.get("data_offsets")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_bytes
        ):
            return [f"{ADAPTER_WEIGHTS_NAME}: tensor {name} lies outside the file."]
        ends.append(offsets[1])
    if max(ends, default=0) != data_bytes:
        return [f"{ADAPTER_WEIGHTS_NAME}: its size does not match its tensors ({data_bytes})."]
    return []


def _invalid_archive(reason: str) -> InvalidRequest:
    return InvalidRequest(
        f"The adapter archive was refused: {reason}.", param="file", code="invalid_archive"
    )


def _invalid_adapter(problems: list[str]) -> InvalidRequest:
    return InvalidRequest(
        "The adapter cannot be imported: " + " ".join(problems),
        param="file",
        code="invalid_adapter",
    )
