"""Where a base model's files come from: a local dir, a hub id at a pinned revision, or a blob
prefix. ``ModelFiles.local_dir`` turns any of them into a directory on this machine."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path

from service.blobstore import BlobStore
from service.blobstore.directories import download_directory
from service.models.registry import BaseModelSpec

_COMPLETE_MARKER = ".complete"
# What tokenizers and trainers read; weights as safetensors only (never .bin / pickle).
HUB_FILE_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.model", "tokenizer*"]


class ModelFiles:
    """Resolves base models to local directories, fetching (once) what is not local."""

    def __init__(
        self,
        blobs: BlobStore,
        cache_dir: Path,
        *,
        hub_offline: bool,
        hub_cache_dir: Path | None = None,
    ) -> None:
        self._blobs = blobs
        self._cache_dir = cache_dir
        self._hub_offline = hub_offline
        self._hub_cache_dir = hub_cache_dir
        self._locks: dict[str, asyncio.Lock] = {}

    async def local_dir(self, spec: BaseModelSpec) -> Path:
        """The directory holding ``spec``'s config, tokenizer and safetensors weights."""
        if spec.path is not None:
            return spec.path
        lock = self._locks.setdefault(spec.id, asyncio.Lock())
        async with lock:
            if spec.hub_id is not None:
                return await asyncio.to_thread(self._from_hub, spec.hub_id, spec.revision or "")
            assert spec.blob_prefix is not None  # noqa: S101 - BaseModelSpec checks one is set
            return await self._from_blob_store(spec.blob_prefix)

    def _from_hub(self, repo_id: str, revision: str) -> Path:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                repo_id=repo_id,
                revision=revision,
                local_files_only=self._hub_offline,
                cache_dir=self._hub_cache_dir,
                allow_patterns=HUB_FILE_PATTERNS,
            )
        )

    async def _from_blob_store(self, prefix: str) -> Path:
        target = self._cache_dir / hashlib.sha256(prefix.encode()).hexdigest()[:32]
        if (target / _COMPLETE_MARKER).exists():
            return target
        staging = target.with_name(target.name + ".partial")
        await asyncio.to_thread(shutil.rmtree, staging, True)
        staging.mkdir(parents=True)
        await download_directory(self._blobs, prefix, staging)  # sha256-checked per file
        (staging / _COMPLETE_MARKER).touch()
        await asyncio.to_thread(shutil.rmtree, target, True)
        staging.rename(target)
        return target
