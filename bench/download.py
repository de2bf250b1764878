"""Adapter download throughput: ``GET /v1/models/{model}/content`` against reading the blob.

Starts a local-disk api (on a Redis of its own), publishes an adapter for the demo base as a
job's success does, with its weights file padded to ``--megabytes`` MiB (a large LoRA: the route
streams whatever the manifest pins), then, ``--repeats`` times, downloads the archive over HTTP
and, in the same run, reads the same weights blob straight from the blob store (the baseline:
what any download must at least pay). Prints both rates as medians, their ratio, and the
archive's size against the adapter's.

    python bench/download.py [--megabytes 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.db.engine import create_engine, create_session_factory
from service.models.access import ModelAccess
from service.models.adapters import ADAPTER_WEIGHTS_NAME
from service.models.registry import ModelRegistry
from service.wiring.resources import blob_store_from_settings
from tests.support.services import RedisServer
from tests.support.serving import caller_of_key, publish_fine_tuned_model, write_tiny_lora
from tests.support.stack import ApiServer, StackConfig, write_registry

DEMO_BASE = Path(__file__).resolve().parents[1] / "gpu_runner" / "demo_base" / "model"
BASE_ID = "ftapi/demo-base"
MIB = 1024 * 1024


def padded_adapter(directory: Path, megabytes: int) -> Path:
    """A real adapter for the demo base whose weights file also holds ``megabytes`` MiB of
    extra float32 rows (serving would refuse it; a download only streams it)."""
    write_tiny_lora(DEMO_BASE, directory, seed=0)
    weights = directory / ADAPTER_WEIGHTS_NAME
    tensors = load_file(weights)
    tensors["padding"] = torch.randn(megabytes * MIB // 4 // 1024, 1024)
    save_file(tensors, weights, metadata={"format": "pt"})
    return directory


def download_s(api: ApiServer, key: str, model: str) -> tuple[float, int]:
    """Seconds to stream the archive to nowhere, and its size."""
    size = 0
    started = time.perf_counter()
    with httpx.stream(
        "GET",
        f"{api.base_url}/models/{model}/content",
        headers={"authorization": f"Bearer {key}"},
        timeout=300,
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
    return time.perf_counter() - started, size


async def weights_key(config: StackConfig, key: str, model: str) -> str:
    """The blob key of the model's weights file, as the download resolves it."""
    settings = config.settings()
    caller = await caller_of_key(settings, key)
    engine = create_engine(settings.database_url)
    try:
        access = ModelAccess(
            ModelRegistry.from_file(settings.models.registry_path), create_session_factory(engine)
        )
        adapter = await access.adapter(caller.project_id, model)
    finally:
        await engine.dispose()
    assert adapter is not None
    return adapter.blob_prefix + ADAPTER_WEIGHTS_NAME


async def blob_read_s(config: StackConfig, blob_key: str) -> tuple[float, int]:
    """Seconds to read the blob from the store chunk by chunk, and its size."""
    blobs = blob_store_from_settings(config.settings())
    size = 0
    try:
        started = time.perf_counter()
        async for chunk in blobs.read_stream(blob_key):
            size += len(chunk)
        return time.perf_counter() - started, size
    finally:
        await blobs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ftapi-bench-download-", dir=os.environ.get("BENCH_DIR")))
    redis = RedisServer(work / "redis")
    redis.start()
    try:
        registry = work / "models.toml"
        write_registry(registry, {BASE_ID: DEMO_BASE})
        config = StackConfig(
            data_dir=work / "data",
            redis_url=redis.new_database_url(),
            extra_env={"FTAPI_MODELS__REGISTRY_PATH": str(registry)},
        )
        adapter = padded_adapter(work / "adapter", args.megabytes)
        adapter_bytes = sum(path.stat().st_size for path in adapter.iterdir())
        http_rates: list[float] = []
        blob_rates: list[float] = []
        with ApiServer(config, ctl_worker=False) as api:
            key = api.new_key("bench")
            model = asyncio.run(
                publish_fine_tuned_model(
                    config.settings(), key, adapter, base_model=BASE_ID, suffix="bench"
                )
            )
            blob_key = asyncio.run(weights_key(config, key, model))
            archive_bytes = 0
            for _ in range(args.repeats):
                seconds, archive_bytes = download_s(api, key, model)
                http_rates.append(archive_bytes / MIB / seconds)
                seconds, blob_bytes = asyncio.run(blob_read_s(config, blob_key))
                blob_rates.append(blob_bytes / MIB / seconds)
        http, blob = statistics.median(http_rates), statistics.median(blob_rates)
        print(f"adapter files {adapter_bytes / MIB:.1f} MiB, archive {archive_bytes / MIB:.1f} MiB")
        print(
            f"download over HTTP (tar, sha256 checked): {http:8.0f} MiB/s, median of {args.repeats}"
        )
        print(f"baseline: blob store read, same blob     : {blob:8.0f} MiB/s")
        print(f"download / baseline                      : {http / blob:8.2f}")
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
