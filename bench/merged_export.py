"""Merged export on the demo base (gpu_runner/demo_base/model, ~2 MB): build time and sizes.

Starts a local-disk api and one gpu worker (on a Redis of its own), publishes a LoRA adapter for
the demo base as a job's success does, then asks ``GET /v1/models/{model}/content?format=merged``
every 0.1 s until it answers 200. Prints, as medians over ``--repeats`` fresh models:

- the merged export's time from the first request to the archive (queue, fetch, merge child,
  logits check, upload), and the merge child alone (``python -m gpu_runner.export``, run
  directly on the same files);
- in the same run, the baseline: a child that only imports torch/transformers and loads and
  saves the base (``save_pretrained``), the part of the export any merge must pay;
- a cached second download of the merged archive, and the adapter download;
- the archive sizes: adapter vs merged.

    python bench/merged_export.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_runner.gpu_worker.merged_export import merge_command
from tests.support.services import RedisServer
from tests.support.serving import publish_fine_tuned_model, write_tiny_lora
from tests.support.stack import ApiServer, StackConfig, write_registry

DEMO_BASE = Path(__file__).resolve().parents[1] / "gpu_runner" / "demo_base" / "model"
BASE_ID = "ftapi/demo-base"
KB = 1024
BASELINE = """
import sys
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype="auto", use_safetensors=True)
model.save_pretrained(sys.argv[2], safe_serialization=True)
"""


def get(api: ApiServer, key: str, model: str, fmt: str) -> httpx.Response:
    return httpx.get(
        f"{api.base_url}/models/{model}/content",
        params={"format": fmt},
        headers={"authorization": f"Bearer {key}"},
        timeout=120,
    )


def timed_child(command: list[str]) -> float:
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ftapi-bench-merged-", dir=os.environ.get("BENCH_DIR")))
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
        export_s: list[float] = []
        child_s: list[float] = []
        baseline_s: list[float] = []
        cached_s: list[float] = []
        adapter_s: list[float] = []
        sizes: dict[str, int] = {}
        with ApiServer(config, ctl_worker=False, gpu_workers=1) as api:
            key = api.new_key("bench")
            settings = config.settings()
            for repeat in range(args.repeats):
                adapter = write_tiny_lora(DEMO_BASE, work / f"adapter-{repeat}", seed=repeat)
                model = asyncio.run(
                    publish_fine_tuned_model(
                        settings, key, adapter, base_model=BASE_ID, suffix=f"bench{repeat}"
                    )
                )
                started = time.perf_counter()
                while (response := get(api, key, model, "merged")).status_code == 202:
                    time.sleep(0.1)
                export_s.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                sizes["merged"] = len(response.content)

                started = time.perf_counter()
                cached = get(api, key, model, "merged")
                cached_s.append(time.perf_counter() - started)
                assert cached.content == response.content
                started = time.perf_counter()
                plain = get(api, key, model, "adapter")
                adapter_s.append(time.perf_counter() - started)
                assert plain.status_code == 200
                sizes["adapter"] = len(plain.content)

                out = work / f"merged-{repeat}"
                child_s.append(
                    timed_child(
                        merge_command(DEMO_BASE, adapter, out, work / f"report-{repeat}", None)
                    )
                )
                baseline_s.append(
                    timed_child(
                        [
                            sys.executable,
                            "-c",
                            BASELINE,
                            str(DEMO_BASE),
                            str(work / f"copy-{repeat}"),
                        ]
                    )
                )
        base_bytes = sum(p.stat().st_size for p in DEMO_BASE.glob("*.safetensors"))
        print(
            f"demo base: {base_bytes / KB:.0f} KiB of safetensors, "
            f"repeats: {args.repeats} (medians)"
        )
        print(f"merged export, first request -> 200 : {statistics.median(export_s):6.2f} s")
        print(f"  merge child alone (merge + check)  : {statistics.median(child_s):6.2f} s")
        print(f"  baseline: import + load + save base: {statistics.median(baseline_s):6.2f} s")
        print(
            f"cached merged download               : {statistics.median(cached_s) * 1000:6.1f} ms"
        )
        print(
            f"adapter download                     : {statistics.median(adapter_s) * 1000:6.1f} ms"
        )
        print(
            f"archive sizes: adapter {sizes['adapter'] / KB:.0f} KiB, "
            f"merged {sizes['merged'] / KB:.0f} KiB"
        )
    finally:
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
