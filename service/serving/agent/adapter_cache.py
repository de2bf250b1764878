"""The agent's disk cache of adapters, one directory per engine-side adapter name.

``ensure_local(name, prefix)`` fetches the adapter committed under a blob prefix (a published
model, or a checkpoint whose adapter sits in ``adapter/``): into ``.tmp/`` first, every file's
size and sha256 checked against the manifest, ``base_model_name_or_path`` rewritten to the
engine's own ``--model`` string (vLLM's filesystem resolver insists on it), ``validate_adapter``
run, files fsynced, then renamed into place. A directory the engine has loaded is never deleted
(vLLM re-reads it after evicting the weights from its CPU cache); other entries are dropped least
recently used first to stay within the byte budget. Bookkeeping lives in ``.meta/``, beside the
adapter directories, so each directory holds exactly the two adapter files.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.blobstore.directories import read_manifest
from service.blobstore.errors import BlobNotFound
from service.blobstore.keys import validate_key, validate_prefix
from service.blobstore.protocol import BlobStore
from service.models.adapter_blobs import AdapterFilesMissing, adapter_blobs
from service.models.adapters import (
    ADAPTER_CONFIG_NAME,
    InvalidAdapterError,
    validate_adapter,
)
from service.serving.agent.cache_budget import CacheBudget
from service.serving.agent.single_flight import SingleFlight
from service.serving.errors import AdapterCorrupt, AdapterSourceMissing
from service.serving.names import is_adapter_name

logger = logging.getLogger(__name__)

TMP_DIR = ".tmp"
META_DIR = ".meta"


class AdapterCache:
    """Adapter directories under ``root``, filled from the blob store on demand."""

    def __init__(
        self,
        root: Path,
        blobs: BlobStore,
        *,
        max_bytes: int,
        max_entries: int | None = None,
        max_lora_rank: int = 512,
        is_pinned: Callable[[str], bool] = lambda _name: False,
    ) -> None:
        self.root = root
        self._blobs = blobs
        self._budget = CacheBudget(max_bytes, max_entries)
        self._max_lora_rank = max_lora_rank
        self._is_pinned = is_pinned
        self._fetches: SingleFlight[Path] = SingleFlight()

    @property
    def total_bytes(self) -> int:
        """Bytes the cached adapters take."""
        return self._budget.total_bytes

    def names(self) -> list[str]:
        """Cached adapter names, least recently used first."""
        return self._budget.names()

    def path_of(self, name: str) -> Path:
        """Where adapter ``name`` lives (whether or not it is cached now)."""
        if not is_adapter_name(name):
            raise ValueError(f"{name!r} is not an adapter name")
        return self.root / name

    async def start(self) -> None:
        """Clear unfinished downloads and keep only entries that still match their record."""
        await asyncio.to_thread(self._scan)

    async def ensure_local(self, name: str, prefix: str, *, base_model_root: str) -> Path:
        """The local directory of adapter ``name`` committed under ``prefix``, fetched once."""
        path = self.path_of(name)
        validate_prefix(prefix)
        if name in self._budget:
            self._budget.touch(name)
            await asyncio.to_thread(_point_at_base, path, base_model_root)
            return path
        return await self._fetches.run(
            name, lambda: self._fetch(name, prefix, base_model_root=base_model_root)
        )

    async def drop(self, name: str) -> bool:
        """Delete adapter ``name`` unless it is pinned; True when it is gone."""
        if self._is_pinned(name) or self._fetches.in_flight(name):
            return False
        self._budget.remove(name)
        await asyncio.to_thread(self._delete_entry, name)
        return True

    async def _fetch(self, name: str, prefix: str, *, base_model_root: str) -> Path:
        manifest = await read_manifest(self._blobs, prefix)
        if manifest is None:
            raise AdapterSourceMissing(f"no committed adapter under {prefix}")
        files = _adapter_files(manifest, prefix)
        staging = self.root / TMP_DIR / f"{name}.{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            for file_name, (key, expected) in files.items():
                await self._download(key, staging / file_name, expected)
            await asyncio.to_thread(self._finish, staging, name, base_model_root)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, staging, True)
            raise
        size = sum(int(expected["bytes"]) for _key, expected in files.values())
        self._meta_path(name).parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(
            _write_json,
            self._meta_path(name),
            {"prefix": prefix, "files": {n: e for n, (_k, e) in files.items()}},
        )
        self._budget.add(name, size)
        await self._evict_over_budget(keep=name)
        return self.path_of(name)

    async def _download(self, key: str, target: Path, expected: dict[str, Any]) -> None:
        digest = hashlib.sha256()
        size = 0
        try:
            with target.open("wb") as out:
                async for chunk in self._blobs.read_stream(validate_key(key)):
                    digest.update(chunk)
                    size += len(chunk)
                    await asyncio.to_thread(out.write, chunk)
                await asyncio.to_thread(_sync, out)
        except BlobNotFound:
            raise AdapterCorrupt(f"{key} is listed in its manifest but missing") from None
        if size != expected.get("bytes") or digest.hexdigest() != expected.get("sha256"):
            raise AdapterCorrupt(f"{key} does not match its manifest")

    def _finish(self, staging: Path, name: str, base_model_root: str) -> None:
        _point_at_base(staging, base_model_root)
        try:
            validate_adapter(staging, max_lora_rank=self._max_lora_rank)
        except InvalidAdapterError as exc:
            raise AdapterCorrupt(" ".join(exc.problems)) from None
        target = self.path_of(name)
        if target.exists():  # left by a crash between rename and record: replace it
            shutil.rmtree(target)
        staging.rename(target)
        _sync_dir(self.root)

    async def _evict_over_budget(self, *, keep: str) -> None:
        for victim in self._budget.victims(pinned=self._pinned, keep=keep):
            logger.info("adapter cache: dropping %s to stay within budget", victim)
            self._budget.remove(victim)
            await asyncio.to_thread(self._delete_entry, victim)

    def _pinned(self, name: str) -> bool:
        return self._is_pinned(name) or self._fetches.in_flight(name)

    def _meta_path(self, name: str) -> Path:
        return self.root / META_DIR / f"{name}.json"

    def _delete_entry(self, name: str) -> None:
        self._meta_path(name).unlink(missing_ok=True)
        shutil.rmtree(self.path_of(name), ignore_errors=True)

    def _scan(self) -> None:
        shutil.rmtree(self.root / TMP_DIR, ignore_errors=True)
        (self.root / META_DIR).mkdir(parents=True, exist_ok=True)
        entries: list[tuple[float, str, int]] = []
        for path in self.root.iterdir():
            if path.name.startswith("."):
                continue
            size = self._verified_size(path) if is_adapter_name(path.name) else None
            if size is None:
                logger.warning("adapter cache: removing unverifiable entry %s", path.name)
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                if is_adapter_name(path.name):
                    self._meta_path(path.name).unlink(missing_ok=True)
                continue
            entries.append((self._meta_path(path.name).stat().st_mtime, path.name, size))
        for meta in (self.root / META_DIR).glob("*.json"):
            if not (self.root / meta.stem).is_dir():
                meta.unlink(missing_ok=True)
        for _mtime, name, size in sorted(entries):
            self._budget.add(name, size)

    def _verified_size(self, path: Path) -> int | None:
        try:
            meta = json.loads(self._meta_path(path.name).read_text())
        except (OSError, ValueError):
            return None
        files: dict[str, dict[str, Any]] = meta.get("files", {})
        if not path.is_dir() or {p.name for p in path.iterdir()} != set(files):
            return None
        for file_name, expected in files.items():
            if file_name == ADAPTER_CONFIG_NAME:
                continue  # rewritten on purpose (base_model_name_or_path); validated below
            if _file_digest(path / file_name) != (expected.get("bytes"), expected.get("sha256")):
                return None
        try:
            validate_adapter(path, max_lora_rank=self._max_lora_rank)
        except InvalidAdapterError:
            return None
        return sum(int(expected["bytes"]) for expected in files.values())


def _adapter_files(manifest: dict[str, Any], prefix: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """file name -> (blob key, manifest entry) of the adapter inside a committed directory."""
    try:
        blobs = adapter_blobs(manifest, prefix)
    except AdapterFilesMissing as exc:
        raise AdapterCorrupt(str(exc)) from None
    return {
        blob.name: (blob.key, {"bytes": blob.size_bytes, "sha256": blob.sha256}) for blob in blobs
    }


def _file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _point_at_base(directory: Path, base_model_root: str) -> None:
    """Set ``base_model_name_or_path`` to the engine's base (atomically, only if it differs)."""
    config_path = directory / ADAPTER_CONFIG_NAME
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # validate_adapter names the problem
    if not isinstance(config, dict) or config.get("base_model_name_or_path") == base_model_root:
        return
    config["base_model_name_or_path"] = base_model_root
    _write_json(config_path, config)


def _write_json(path: Path, value: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with temporary.open("w", encoding="utf-8") as out:
        json.dump(value, out, indent=2, sort_keys=True)
        _sync(out)
    temporary.replace(path)


def _sync(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _sync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
