"""Base models from a local dir, a hub id at a pinned revision (offline cache), a blob prefix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.blobstore import LocalBlobStore
from service.blobstore.directories import CorruptDirectory, upload_directory
from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.datasets.tokenization.tokenizer_cache import TokenizerCache
from service.models.registry import BaseModelSpec
from service.models.sources import ModelFiles
from tests.support.tiny_model import TinyModels

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def tiny_dir(tiny_models: TinyModels) -> Path:
    return tiny_models.model_dir("chatml")


def test_a_spec_needs_exactly_one_pinned_source(tiny_dir: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        BaseModelSpec(id="m", path=tiny_dir, blob_prefix="x/")
    with pytest.raises(ValueError, match="exactly one"):
        BaseModelSpec(id="m")
    with pytest.raises(ValueError, match="40-hex commit"):
        BaseModelSpec(id="m", hub_id="org/tiny", revision="main")


async def test_a_blob_prefix_model_is_fetched_once_and_checked(
    tiny_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "blobs").mkdir()
    blobs = LocalBlobStore(tmp_path / "blobs")
    await upload_directory(blobs, "base-models/tiny/", tiny_dir)
    files = ModelFiles(blobs, tmp_path / "cache", hub_offline=True)
    spec = BaseModelSpec(id="ftapi/tiny-blob", blob_prefix="base-models/tiny/")

    local = await files.local_dir(spec)
    again = await files.local_dir(spec)
    tokenizer = await TokenizerCache(files).get(spec)

    assert local == again
    assert (local / "config.json").read_bytes() == (tiny_dir / "config.json").read_bytes()
    assert isinstance(tokenizer, ChatTokenizer)
    # A corrupted object is caught against the manifest, never used.
    (tmp_path / "blobs" / "base-models" / "tiny" / "config.json").write_text("{}")
    fresh = ModelFiles(blobs, tmp_path / "other-cache", hub_offline=True)
    with pytest.raises(CorruptDirectory):
        await fresh.local_dir(spec)
    await blobs.close()


async def test_a_hub_model_resolves_offline_at_its_pinned_revision(
    tiny_dir: Path, tmp_path: Path
) -> None:
    hub = tmp_path / "hub"
    repo = hub / "models--org--tiny"
    shutil.copytree(tiny_dir, repo / "snapshots" / REVISION)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    (tmp_path / "blobs").mkdir()
    blobs = LocalBlobStore(tmp_path / "blobs")
    files = ModelFiles(blobs, tmp_path / "cache", hub_offline=True, hub_cache_dir=hub)

    local = await files.local_dir(
        BaseModelSpec(id="org/tiny", hub_id="org/tiny", revision=REVISION)
    )

    assert local == repo / "snapshots" / REVISION
    assert (local / "tokenizer.json").exists()
    await blobs.close()
