"""Downloading a fine-tuned model or checkpoint: the archive of a directory peft loads offline.

``GET /v1/models/{model}/content?format=adapter`` streams a tar of

- ``adapter_config.json`` (its ``base_model_name_or_path`` pointed at the base's hub id, or its
  registry id) and ``adapter_model.safetensors``, the adapter as it was committed;
- the base model's tokenizer files and chat template (the registry's template, when it
  overrides the tokenizer's, as ``chat_template.jinja``), so the directory formats prompts as
  ftapi serves them;
- ``README.md``, the model card (``service.models.model_card``);
- ``checksums``: the sha256 of every other file, in ``sha256sum -c`` format.

Weights are safetensors only: tokenizer files are taken by name, never a pickle. Blobs stream
chunk by chunk (``service.models.tar_stream``), so memory stays bounded whatever the size.

``format=merged`` streams, in the same layout, the merged model instead of the adapter:
``config.json``, ``generation_config.json`` and the sharded ``model*.safetensors`` (with their
index) that ``AutoModelForCausalLM.from_pretrained`` loads, built once by the gpu worker and
cached in the blob store (``service.models.merged_exports``). Until it is built the answer is
``ExportPending`` (the route's 202); a failed build is ``MergedExportFailed``.

Who may download: the owning project only. A project the model was shared with gets the same
404 as for a model it cannot see: sharing grants calling and fine-tuning, not the weights.
Base models are 400 ``model_not_downloadable``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select

from service.auth.caller import Caller
from service.blobstore import BlobStore
from service.blobstore.directories import CorruptDirectory, read_manifest
from service.db.engine import SessionFactory
from service.db.tables import CheckpointRow, FileRow, JobRow
from service.errors import FtapiError, InvalidRequest
from service.models.access import AdapterKind, AdapterModel, ModelAccess, model_not_found
from service.models.adapter_blobs import AdapterBlob, AdapterFilesMissing, adapter_blobs
from service.models.adapters import ADAPTER_CONFIG_NAME
from service.models.merged_exports import (
    RETRY_AFTER_S,
    ExportRecord,
    ExportStatus,
    MergedExportFailed,
    MergedExports,
    export_prefix,
)
from service.models.model_card import DatasetFile, ModelCardFacts, render_model_card
from service.models.registry import BaseModelSpec, ModelRegistry
from service.models.sources import ModelFiles
from service.models.tar_stream import (
    BlobMember,
    BytesMember,
    FileMember,
    TarMember,
    archive_size,
    stream_tar,
)

CHECKSUMS_NAME = "checksums"
MODEL_CARD_NAME = "README.md"
CHAT_TEMPLATE_NAME = "chat_template.jinja"
# What a base model's tokenizer is made of (besides ``tokenizer*``); never weights, never pickle.
_TOKENIZER_FILES = frozenset(
    {
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "vocab.txt",
        "merges.txt",
        "chat_template.jinja",
        "chat_template.json",
    }
)
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
# An adapter config is a few hundred bytes; it is the one stored file read whole.
_MAX_CONFIG_BYTES = 1 << 20
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


class DownloadFormat(StrEnum):
    """What ``format`` may ask for."""

    ADAPTER = "adapter"
    MERGED = "merged"


@dataclass(frozen=True)
class ExportPending:
    """A merged export still being built: poll again after ``retry_after_s``."""

    model: str
    record: ExportRecord
    retry_after_s: int = RETRY_AFTER_S


@dataclass(frozen=True)
class ModelArchive:
    """An archive ready to stream: its file name, exact length and bytes."""

    filename: str
    size_bytes: int
    chunks: AsyncIterator[bytes]


class ModelDownloads:
    """Builds the archive of a model the caller owns."""

    def __init__(
        self,
        registry: ModelRegistry,
        access: ModelAccess,
        model_files: ModelFiles,
        blobs: BlobStore,
        sessions: SessionFactory,
        exports: MergedExports,
    ) -> None:
        self._exports = exports
        self._registry = registry
        self._access = access
        self._model_files = model_files
        self._blobs = blobs
        self._sessions = sessions

    async def archive(
        self, caller: Caller, model_id: str, format: str, *, retry: bool = False
    ) -> ModelArchive | ExportPending:
        """The archive of ``model_id`` in ``format``; the errors the module docstring lists.
        ``retry`` starts a failed merged export over."""
        _check_format(format)
        if self._registry.get(model_id) is not None:
            raise InvalidRequest(
                f"The model '{model_id}' is a base model; only fine-tuned models and "
                "checkpoints can be downloaded.",
                param="model",
                code="model_not_downloadable",
            )
        adapter = await self._access.owned(caller.project_id, model_id)
        spec = None if adapter is None else self._registry.get(adapter.base_model)
        if adapter is None or spec is None:
            raise model_not_found(model_id)
        if format == DownloadFormat.MERGED:
            record = await self._exports.ensure(adapter, retry=retry)
            if record.status is ExportStatus.IN_PROGRESS:
                return ExportPending(adapter.name, record)
            if record.status is ExportStatus.FAILED:
                error = record.error
                why = "an unknown error" if error is None else error.message.rstrip(".")
                raise MergedExportFailed(
                    f"The merged export of '{model_id}' failed: {why}. "
                    "Ask again with retry=true to build it again.",
                    param="format",
                    code=None if error is None else error.code,
                )
            members = await self._merged_members(adapter, spec, record)
        else:
            members = await self._members(adapter, spec)
        return ModelArchive(
            filename=_UNSAFE_FILENAME.sub("-", model_id).strip("-") + ".tar",
            size_bytes=archive_size(members),
            chunks=stream_tar(members, self._blobs, mtime=adapter.created),
        )

    async def _members(self, adapter: AdapterModel, spec: BaseModelSpec) -> list[TarMember]:
        prefix = (
            adapter.blob_prefix if adapter.blob_prefix.endswith("/") else adapter.blob_prefix + "/"
        )
        manifest = await read_manifest(self._blobs, prefix)
        if manifest is None:
            raise FtapiError(f"the adapter of {adapter.name} has no committed manifest")
        try:
            stored = adapter_blobs(manifest, prefix)
        except AdapterFilesMissing as exc:
            raise FtapiError(str(exc)) from None
        members: list[TarMember] = []
        for blob in stored:
            if blob.name == ADAPTER_CONFIG_NAME:
                members.append(await self._config_member(blob, spec))
            else:
                members.append(BlobMember(blob.name, blob.key, blob.size_bytes, blob.sha256))
        return await self._with_tokenizer_card_checksums(adapter, spec, members, stored)

    async def _merged_members(
        self, adapter: AdapterModel, spec: BaseModelSpec, record: ExportRecord
    ) -> list[TarMember]:
        prefix = record.files_prefix(export_prefix(adapter))
        manifest = await read_manifest(self._blobs, prefix)
        if manifest is None:
            raise FtapiError(f"the merged export of {adapter.name} has no committed manifest")
        stored = [
            AdapterBlob(name, prefix + name, int(entry["bytes"]), str(entry["sha256"]))
            for name, entry in sorted(manifest["files"].items())
        ]
        members: list[TarMember] = [
            BlobMember(blob.name, blob.key, blob.size_bytes, blob.sha256) for blob in stored
        ]
        return await self._with_tokenizer_card_checksums(
            adapter, spec, members, stored, merge_report=record.report or {}
        )

    async def _with_tokenizer_card_checksums(
        self,
        adapter: AdapterModel,
        spec: BaseModelSpec,
        members: list[TarMember],
        stored: Sequence[AdapterBlob],
        *,
        merge_report: dict[str, Any] | None = None,
    ) -> list[TarMember]:
        members = [*members, *await self._tokenizer_members(spec)]
        facts = await self._card_facts(adapter, spec, [m.name for m in members])
        if merge_report is not None:
            facts = replace(facts, merge_report=merge_report)
        members.append(BytesMember(MODEL_CARD_NAME, render_model_card(facts).encode()))
        members.append(BytesMember(CHECKSUMS_NAME, await _checksums(members, stored)))
        return members

    async def _config_member(self, blob: AdapterBlob, spec: BaseModelSpec) -> BytesMember:
        """The adapter config, naming the base by a public id instead of the trainer's path."""
        if blob.size_bytes > _MAX_CONFIG_BYTES:
            raise CorruptDirectory(f"{blob.key} is implausibly large for an adapter config")
        body = b"".join([chunk async for chunk in self._blobs.read_stream(blob.key)])
        if hashlib.sha256(body).hexdigest() != blob.sha256:
            raise CorruptDirectory(f"{blob.key} does not match its manifest")
        config: dict[str, Any] = json.loads(body)
        config["base_model_name_or_path"] = spec.hub_id or spec.id
        if spec.revision is not None:
            config["revision"] = spec.revision
        return BytesMember(ADAPTER_CONFIG_NAME, json.dumps(config, indent=2).encode() + b"\n")

    async def _tokenizer_members(self, spec: BaseModelSpec) -> list[TarMember]:
        base_dir = await self._model_files.local_dir(spec)
        found = await asyncio.to_thread(_tokenizer_files, base_dir)
        members: list[TarMember] = []
        for path, size in found:
            if spec.chat_template is not None and path.name.startswith("chat_template."):
                continue  # the registry's template is the one ftapi serves with
            members.append(FileMember(path.name, path, size))
        if spec.chat_template is not None:
            members.append(BytesMember(CHAT_TEMPLATE_NAME, spec.chat_template.encode()))
        return sorted(members, key=lambda member: member.name)

    async def _card_facts(
        self, adapter: AdapterModel, spec: BaseModelSpec, files: list[str]
    ) -> ModelCardFacts:
        async with self._sessions.read() as connection:
            job = (
                await connection.execute(
                    select(JobRow).where(
                        JobRow.id == adapter.job_id, JobRow.project_id == adapter.project_id
                    )
                )
            ).first()
            checkpoint = None
            if adapter.kind is AdapterKind.CHECKPOINT:
                checkpoint = (
                    await connection.execute(
                        select(CheckpointRow.step_number, CheckpointRow.metrics_json).where(
                            CheckpointRow.fine_tuned_model_checkpoint == adapter.name
                        )
                    )
                ).first()
            file_ids = [] if job is None else [job.training_file, job.validation_file]
            stored = {
                row.id: row
                for row in await connection.execute(
                    select(FileRow.id, FileRow.filename, FileRow.sha256).where(
                        FileRow.id.in_([i for i in file_ids if i is not None]),
                        FileRow.project_id == adapter.project_id,
                    )
                )
            }

        def dataset(file_id: str | None) -> DatasetFile | None:
            if file_id is None:
                return None
            row = stored.get(file_id)
            if row is None:
                return DatasetFile(file_id)
            return DatasetFile(file_id, row.filename, row.sha256)

        return ModelCardFacts(
            model=adapter.name,
            kind=adapter.kind.value,
            base_model=spec.id,
            base_source=spec.hub_id,
            base_revision=spec.revision,
            job_id=adapter.job_id,
            created=adapter.created,
            step=None if checkpoint is None else checkpoint.step_number,
            training_file=None if job is None else dataset(job.training_file),
            validation_file=None if job is None else dataset(job.validation_file),
            method=None if job is None else json.loads(job.method_json),
            seed=None if job is None else job.seed,
            trained_tokens=None if job is None else job.trained_tokens,
            eval_summary=_json_or_none(None if job is None else job.eval_summary_json),
            checkpoint_metrics=_json_or_none(
                None if checkpoint is None else checkpoint.metrics_json
            ),
            files=[*files, MODEL_CARD_NAME, CHECKSUMS_NAME],
        )


def _check_format(format: str) -> None:
    if format in (DownloadFormat.ADAPTER, DownloadFormat.MERGED):
        return
    raise InvalidRequest(
        f"Invalid format '{format}': expected one of 'adapter', 'merged'.",
        param="format",
        code="invalid_format",
    )


def _tokenizer_files(base_dir: Path) -> list[tuple[Path, int]]:
    """The base's tokenizer files and their sizes, by name."""
    found = []
    for path in sorted(base_dir.iterdir()):
        is_tokenizer = path.name.startswith("tokenizer") or path.name in _TOKENIZER_FILES
        if is_tokenizer and path.is_file() and not path.name.endswith(_PICKLE_SUFFIXES):
            found.append((path, path.stat().st_size))
    return found


async def _checksums(members: Sequence[TarMember], stored: Sequence[AdapterBlob]) -> bytes:
    """``<sha256>  <name>`` per member: blobs as committed, the rest hashed here."""
    committed = {blob.name: blob.sha256 for blob in stored}
    lines = []
    for member in members:
        if isinstance(member, BlobMember):
            digest = committed[member.name]
        elif isinstance(member, FileMember):
            digest = await asyncio.to_thread(_file_sha256, member.path)
        else:
            digest = hashlib.sha256(member.data).hexdigest()
        lines.append(f"{digest}  {member.name}\n")
    return "".join(lines).encode()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _json_or_none(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None
