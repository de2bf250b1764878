"""The agent's adapter cache on a real local blob store: atomic, verified, budgeted downloads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.blobstore import LocalBlobStore
from service.blobstore.directories import upload_directory
from service.blobstore.keys import adapter_prefix, checkpoint_prefix
from service.serving.agent.adapter_cache import AdapterCache
from service.serving.errors import AdapterCorrupt, AdapterSourceMissing
from service.serving.names import engine_adapter_name
from tests.support.serving import publish_adapter, write_fake_adapter

ENGINE_BASE = "/srv/models/tiny"


@pytest.fixture
async def blobs(tmp_path: Path) -> AsyncIterator[LocalBlobStore]:
    """A local blob store in the test's directory."""
    root = tmp_path / "blobs"
    root.mkdir()
    store = LocalBlobStore(root)
    yield store
    await store.close()


async def _published(blobs: LocalBlobStore, tmp_path: Path, job: str, *, seed: int = 0) -> str:
    prefix = adapter_prefix("proj_1", job, 1)
    adapter = write_fake_adapter(tmp_path / "src" / job, seed=seed)
    await publish_adapter(
        blobs, prefix, adapter, model=f"ft:m:o::{job}", base_model="m", job_id=job
    )
    return prefix


def _cache(root: Path, blobs: LocalBlobStore, **kwargs: object) -> AdapterCache:
    return AdapterCache(root, blobs, **kwargs)  # type: ignore[arg-type]


async def test_fetches_verifies_and_points_the_adapter_at_the_engine_base(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    prefix = await _published(blobs, tmp_path, "ftjob-a")
    cache = _cache(tmp_path / "cache", blobs, max_bytes=10**6)
    await cache.start()
    name = engine_adapter_name("ft:m:o::ftjob-a")

    path = await cache.ensure_local(name, prefix, base_model_root=ENGINE_BASE)

    assert path == tmp_path / "cache" / name
    assert sorted(p.name for p in path.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    config = json.loads((path / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == ENGINE_BASE
    assert (path / "adapter_model.safetensors").read_bytes() == (
        tmp_path / "src" / "ftjob-a" / "adapter_model.safetensors"
    ).read_bytes()
    assert cache.names() == [name]
    assert not any((tmp_path / "cache" / ".tmp").iterdir())


async def test_a_checkpoint_serves_only_its_adapter_subdirectory(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "ckpt"
    write_fake_adapter(checkpoint / "adapter")
    (checkpoint / "optimizer.safetensors").write_bytes(b"x" * 1000)
    (checkpoint / "trainer_state.json").write_text("{}")
    prefix = checkpoint_prefix("proj_1", "ftjob-b", 1, 10)
    await upload_directory(blobs, prefix, checkpoint, extra={"step": 10})
    cache = _cache(tmp_path / "cache", blobs, max_bytes=10**6)

    path = await cache.ensure_local(engine_adapter_name("c"), prefix, base_model_root=ENGINE_BASE)

    assert sorted(p.name for p in path.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]


async def test_a_file_that_does_not_match_its_manifest_is_refused_and_nothing_stays(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    prefix = await _published(blobs, tmp_path, "ftjob-c")
    await blobs.put_stream(prefix + "adapter_model.safetensors", _once(b"tampered"))
    cache = _cache(tmp_path / "cache", blobs, max_bytes=10**6)
    name = engine_adapter_name("c")

    with pytest.raises(AdapterCorrupt, match="does not match its manifest"):
        await cache.ensure_local(name, prefix, base_model_root=ENGINE_BASE)

    assert not (tmp_path / "cache" / name).exists()
    assert not any((tmp_path / "cache" / ".tmp").iterdir())
    assert cache.names() == []


async def test_an_uncommitted_prefix_is_missing(blobs: LocalBlobStore, tmp_path: Path) -> None:
    cache = _cache(tmp_path / "cache", blobs, max_bytes=10**6)

    with pytest.raises(AdapterSourceMissing):
        await cache.ensure_local(
            engine_adapter_name("x"), adapter_prefix("proj_1", "nothing", 1), base_model_root="b"
        )


async def test_an_adapter_vllm_would_refuse_is_refused_before_the_engine_sees_it(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    adapter = write_fake_adapter(tmp_path / "dora")
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps(config | {"use_dora": True}))
    prefix = adapter_prefix("proj_1", "ftjob-d", 1)
    await upload_directory(blobs, prefix, adapter)
    cache = _cache(tmp_path / "cache", blobs, max_bytes=10**6)

    with pytest.raises(AdapterCorrupt, match="DoRA"):
        await cache.ensure_local(engine_adapter_name("d"), prefix, base_model_root=ENGINE_BASE)


async def test_the_byte_budget_drops_least_recently_used_entries_but_never_pinned_ones(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    names = {job: engine_adapter_name(job) for job in ["j1", "j2", "j3", "j4"]}
    prefixes = {job: await _published(blobs, tmp_path, job) for job in names}
    one_entry = sum(p.stat().st_size for p in (tmp_path / "src" / "j1").iterdir())
    pinned = {names["j1"]}
    cache = _cache(
        tmp_path / "cache", blobs, max_bytes=2 * one_entry + 10, is_pinned=pinned.__contains__
    )

    for job in ["j1", "j2", "j3"]:
        await cache.ensure_local(names[job], prefixes[job], base_model_root=ENGINE_BASE)
    after_three = cache.names()
    await cache.ensure_local(names["j4"], prefixes["j4"], base_model_root=ENGINE_BASE)

    assert after_three == [names["j1"], names["j3"]]  # j2 dropped; j1 is loaded (pinned)
    assert cache.names() == [names["j1"], names["j4"]]
    assert sorted(
        p.name for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")
    ) == sorted([names["j1"], names["j4"]])
    assert cache.total_bytes <= 2 * one_entry + 10


async def test_restart_keeps_verified_entries_and_clears_the_rest(
    blobs: LocalBlobStore, tmp_path: Path
) -> None:
    root = tmp_path / "cache"
    good, bad = engine_adapter_name("good"), engine_adapter_name("bad")
    cache = _cache(root, blobs, max_bytes=10**6)
    await cache.start()
    for job, name in [("good", good), ("bad", bad)]:
        prefix = await _published(blobs, tmp_path, job)
        await cache.ensure_local(name, prefix, base_model_root=ENGINE_BASE)
    (root / bad / "adapter_model.safetensors").write_bytes(b"bit rot")
    (root / ".tmp" / "half-download").mkdir(parents=True)
    (root / "not-an-adapter").mkdir()

    restarted = _cache(root, blobs, max_bytes=10**6)
    await restarted.start()

    assert restarted.names() == [good]
    assert sorted(p.name for p in root.iterdir()) == sorted([".meta", good])
    assert [p.stem for p in (root / ".meta").iterdir()] == [good]


async def test_drop_deletes_unless_pinned(blobs: LocalBlobStore, tmp_path: Path) -> None:
    prefix = await _published(blobs, tmp_path, "ftjob-e")
    pinned: set[str] = set()
    cache = _cache(tmp_path / "cache", blobs, max_bytes=10**6, is_pinned=pinned.__contains__)
    name = engine_adapter_name("e")
    await cache.ensure_local(name, prefix, base_model_root=ENGINE_BASE)

    pinned.add(name)
    kept = await cache.drop(name)
    pinned.clear()
    dropped = await cache.drop(name)

    assert (kept, dropped) == (False, True)
    assert not (tmp_path / "cache" / name).exists()
    assert cache.names() == []


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body
