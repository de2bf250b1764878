"""Serving through the api gateway: time to the first token of a new adapter, and throughput
with many adapters against the base model alone.

One real stack: the api, a ctl worker, a gpu worker running the LoRA trainer, ``ftapi engine``
over a tiny Llama (hidden size 256, built locally) and its adapter agent, on SQLite and the
local blob store.

(a) **succeeded → first token.** A real, short fine-tuning job (``LoraTrainer``, a few steps on
    the tiny model) runs to ``succeeded``; the moment the bench sees it, it streams a chat
    completion from the new ``ft:`` model through ``/v1/chat/completions``. Measured from the
    job's ``succeeded`` event (its microsecond timestamp in the database) to the first content
    chunk: the agent's download and sha256 check, the engine's load, and the first decode step.
(b) **Throughput.** Non-streaming greedy chat requests at a set concurrency, for the base model
    alone, then 4 and 16 adapters interleaved round-robin (random LoRAs published the way the
    runner publishes, each called once before timing so loads are not counted). Prints
    requests/s and p50/p99 latency, and each as a ratio to the base-only phase of the same
    repeat; medians over repeats.

    python bench/serve.py                                   # CPU, small settings
    python bench/serve.py --device cuda --requests 256 --concurrency 16 --max-tokens 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.jobs import FAST_JOBS_ENV
from tests.support.lora import ALL_LINEAR, build_learnable_model, phrase_jsonl, question
from tests.support.services import RedisServer
from tests.support.serving import publish_fine_tuned_model, write_tiny_lora
from tests.support.serving_processes import AgentProcess, EngineProcess
from tests.support.stack import ApiServer, StackConfig

BASE_MODEL_ID = "ftapi/bench-tiny"
LORA_TRAINER = "gpu_runner.trainer:LoraTrainer"
SUCCEEDED_MESSAGE = "The job has successfully completed"
ENGINE_KEY = "engine-" + secrets.token_hex(8)
AGENT_KEY = "agent-" + secrets.token_hex(8)
ADAPTER_COUNTS = (4, 16)
FAILED = ("failed", "cancelled")
TRAINING_EXAMPLES = 12  # the fewest a fine-tuning file may have is 10


@dataclass(frozen=True)
class Phase:
    """One load phase's outcome."""

    requests_per_s: float
    p50_s: float
    p99_s: float
    tokens_per_request: float = 0.0  # completion tokens: greedy adapters may stop sooner


# -- (a) succeeded → first token ---------------------------------------------------------------


def upload(base_url: str, key: str, body: bytes) -> str:
    """Upload a training file and wait until it is processed."""
    headers = {"Authorization": f"Bearer {key}"}
    created = httpx.post(
        f"{base_url}/files",
        headers=headers,
        data={"purpose": "fine-tune"},
        files={"file": ("train.jsonl", body)},
        timeout=30,
    )
    created.raise_for_status()
    file_id = str(created.json()["id"])
    while httpx.get(f"{base_url}/files/{file_id}", headers=headers).json()["status"] != "processed":
        time.sleep(0.05)
    return file_id


def succeeded_at_s(database: Path, job_id: str) -> float | None:
    """Wall-clock time of the job's ``succeeded`` event, or None before it."""
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT created_us FROM job_events WHERE job_id = ? AND message = ?",
            (job_id, SUCCEEDED_MESSAGE),
        ).fetchone()
    return None if row is None else row[0] / 1e6


def train_then_first_token(
    base_url: str, key: str, database: Path, training_file: str, steps: int, max_tokens: int
) -> tuple[float, float]:
    """Run one job; return (succeeded → first token, succeeded → seen by the bench) seconds."""
    headers = {"Authorization": f"Bearer {key}"}
    body = {
        "model": BASE_MODEL_ID,
        "training_file": training_file,
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": steps, "batch_size": 4}},
        },
    }
    created = httpx.post(f"{base_url}/fine_tuning/jobs", headers=headers, json=body, timeout=30)
    created.raise_for_status()
    job_id = str(created.json()["id"])
    deadline = time.monotonic() + 600
    while (succeeded := succeeded_at_s(database, job_id)) is None:
        status = httpx.get(f"{base_url}/fine_tuning/jobs/{job_id}", headers=headers).json()
        # "succeeded" here with no event yet: it committed between the two reads; read again.
        if status["status"] in FAILED or time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} ended {status['status']}: {status.get('error')}")
        time.sleep(0.02)
    seen = time.time()
    model = httpx.get(f"{base_url}/fine_tuning/jobs/{job_id}", headers=headers).json()[
        "fine_tuned_model"
    ]
    request = {
        "model": model,
        "messages": [{"role": "user", "content": question(9000)}],
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": True,
    }
    with httpx.stream(
        "POST", f"{base_url}/chat/completions", headers=headers, json=request, timeout=600
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[len("data: ") :])["choices"][0]["delta"]
            if delta.get("content"):
                return time.time() - succeeded, seen - succeeded
    raise RuntimeError(f"{model} streamed no content")


# -- (b) throughput ----------------------------------------------------------------------------


async def publish_random_adapters(
    config: StackConfig, key: str, model_dir: Path, work: Path, count: int
) -> list[str]:
    """Publish ``count`` random LoRAs as the runner publishes adapters; return their names."""
    settings = config.settings()
    return [
        await publish_fine_tuned_model(
            settings,
            key,
            write_tiny_lora(model_dir, work / f"adapter-{seed}", seed=seed, std=0.05),
            base_model=BASE_MODEL_ID,
            suffix=f"b{seed}",
        )
        for seed in range(count)
    ]


async def load_phase(
    base_url: str, key: str, models: list[str], n_requests: int, concurrency: int, max_tokens: int
) -> Phase:
    """``n_requests`` greedy chat requests cycling over ``models``, ``concurrency`` at a time."""
    latencies: list[float] = []
    tokens: list[int] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n_requests):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=600
    ) as http:

        async def client() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                body = {
                    "model": models[i % len(models)],
                    "messages": [{"role": "user", "content": question(i)}],
                    "temperature": 0,
                    "max_tokens": max_tokens,
                }
                started = time.perf_counter()
                response = await http.post("/chat/completions", json=body)
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)
                tokens.append(response.json()["usage"]["completion_tokens"])

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Phase(
        requests_per_s=n_requests / elapsed,
        p50_s=statistics.median(latencies),
        p99_s=latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        tokens_per_request=statistics.mean(tokens),
    )


def warm(base_url: str, key: str, models: list[str]) -> None:
    """Call each model once so that phases time serving, not first loads."""
    for model in models:
        httpx.post(
            f"{base_url}/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
            timeout=600,
        ).raise_for_status()


# -- the stack and the report ------------------------------------------------------------------


@dataclass
class Stack:
    """The processes under test, started together and always stopped together."""

    api: ApiServer
    engine: EngineProcess
    agent: AgentProcess
    model_dir: Path

    def start(self) -> None:
        self.api.start()  # first: on 2 cores, loading torch beside it can outlast its ready wait
        self.engine.start()
        self.agent.start()
        self.agent.wait()
        self.engine.wait()

    def stop(self) -> None:
        self.api.stop()
        self.agent.stop()
        self.engine.stop()


def build_stack(args: argparse.Namespace, work: Path, redis: RedisServer) -> Stack:
    """The api (ctl + gpu worker with the LoRA trainer), the engine and its agent, not started."""
    model_dir = build_learnable_model(work / "model")
    registry = work / "models.toml"
    targets = ", ".join(f'"{module}"' for module in ALL_LINEAR)
    registry.write_text(
        f'[[models]]\nid = "{BASE_MODEL_ID}"\npath = "{model_dir}"\nmax_seq_length = 256\n'
        f"max_lora_rank = 64\nlora_target_modules = [{targets}]\n"
    )
    engine = EngineProcess(
        model_dir,
        BASE_MODEL_ID,
        work / "logs",
        max_loras=min(args.max_cpu_loras, 4),
        max_cpu_loras=args.max_cpu_loras,
        api_key=ENGINE_KEY,
        max_lora_rank=64,
        device=args.device,
    )
    base = StackConfig(data_dir=work / "data", redis_url=redis.new_database_url())
    agent = AgentProcess(
        engine, base, work / "agent-cache", max_cpu_loras=args.max_cpu_loras, api_key=AGENT_KEY
    )
    config = StackConfig(
        data_dir=base.data_dir,
        redis_url=base.redis_url,
        extra_env=FAST_JOBS_ENV
        | {
            "FTAPI_MODELS__REGISTRY_PATH": str(registry),
            "FTAPI_SERVING__AGENT_URLS": json.dumps([agent.url]),
            "FTAPI_SERVING__AGENT_API_KEY": AGENT_KEY,
            "FTAPI_LORA_BASE_LEARNING_RATE": "3e-3",
            "FTAPI_JOBS__MAX_ACTIVE_JOBS_PER_PROJECT": "100",
        },
    )
    return Stack(ApiServer(config, gpu_workers=1, trainer=LORA_TRAINER), engine, agent, model_dir)


def ratio_line(label: str, phase: Phase, base: Phase) -> str:
    return (
        f"{label:<12} {phase.requests_per_s:8.2f} req/s  p50 {phase.p50_s * 1000:8.1f} ms  "
        f"p99 {phase.p99_s * 1000:8.1f} ms   x base: "
        f"req/s {phase.requests_per_s / base.requests_per_s:5.2f}  "
        f"p50 {phase.p50_s / base.p50_s:5.2f}  p99 {phase.p99_s / base.p99_s:5.2f}  "
        f"({phase.tokens_per_request:.1f} tokens/request)"
    )


def median_phase(phases: list[Phase]) -> Phase:
    return Phase(
        statistics.median(p.requests_per_s for p in phases),
        statistics.median(p.p50_s for p in phases),
        statistics.median(p.p99_s for p in phases),
        statistics.median(p.tokens_per_request for p in phases),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="Jobs for (a), load rounds for (b).")
    parser.add_argument(
        "--train-epochs", type=int, default=1, help="Epochs over the training file per job."
    )
    parser.add_argument("--requests", type=int, default=32, help="Requests per load phase.")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--max-cpu-loras", type=int, default=16, help="Engine and agent bound.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ftapi-bench-serve-"))
    redis = RedisServer(work / "redis")
    redis.start()
    stack = None
    try:
        started = time.perf_counter()
        stack = build_stack(args, work, redis)
        stack.start()
        api, model_dir = stack.api, stack.model_dir
        print(f"stack up in {time.perf_counter() - started:.1f} s (engine on {args.device})")
        key = api.new_key("bench")
        base_url, database = api.base_url, api.config.data_dir / "ftapi.db"

        training_file = upload(base_url, key, phrase_jsonl(TRAINING_EXAMPLES))
        first_tokens, detection = [], []
        for _ in range(args.repeats):
            to_token, seen = train_then_first_token(
                base_url, key, database, training_file, args.train_epochs, args.max_tokens
            )
            first_tokens.append(to_token)
            detection.append(seen)
        print(
            f"(a) succeeded -> first token from the new adapter via /v1/chat/completions "
            f"(real LoraTrainer jobs, {args.repeats} runs): "
            f"median {statistics.median(first_tokens):.3f} s "
            f"[{', '.join(f'{t:.3f}' for t in first_tokens)}]; of which the bench's polling "
            f"lag median {statistics.median(detection):.3f} s"
        )

        adapters = asyncio.run(
            publish_random_adapters(api.config, key, model_dir, work, max(ADAPTER_COUNTS))
        )
        mixes = {"base only": [BASE_MODEL_ID]} | {
            f"{n} adapters": adapters[:n] for n in ADAPTER_COUNTS
        }
        warm(base_url, key, [BASE_MODEL_ID, *adapters])
        results: dict[str, list[Phase]] = {label: [] for label in mixes}
        for repeat in range(args.repeats):
            for label, models in mixes.items():
                phase = asyncio.run(
                    load_phase(
                        base_url, key, models, args.requests, args.concurrency, args.max_tokens
                    )
                )
                results[label].append(phase)
            base = results["base only"][-1]
            print(f"  repeat {repeat + 1}:")
            for label in mixes:
                print("    " + ratio_line(label, results[label][-1], base))
        print(
            f"(b) medians over {args.repeats} repeats, {args.requests} requests per phase, "
            f"concurrency {args.concurrency}, max_tokens {args.max_tokens}, "
            f"--max-cpu-loras {args.max_cpu_loras}:"
        )
        for label in mixes:
            ratios = [
                Phase(
                    phase.requests_per_s / base.requests_per_s,
                    phase.p50_s / base.p50_s,
                    phase.p99_s / base.p99_s,
                )
                for phase, base in zip(results[label], results["base only"], strict=True)
            ]
            median = median_phase(results[label])
            ratio = median_phase(ratios)
            print(
                f"    {label:<12} {median.requests_per_s:8.2f} req/s  "
                f"p50 {median.p50_s * 1000:8.1f} ms  p99 {median.p99_s * 1000:8.1f} ms   "
                "median ratio to same-repeat base: "
                f"req/s {ratio.requests_per_s:5.2f}  p50 {ratio.p50_s:5.2f}  p99 {ratio.p99_s:5.2f}"
                f"  ({median.tokens_per_request:.1f} tokens/request)"
            )
    finally:
        if stack is not None:
            stack.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
