"""Eval runs: items graded per second by a real ctl worker, against the same work done bare.

One real stack: the api, a ctl worker, Redis, SQLite and the local blob store, plus
``ftapi engine`` over the demo model (the tiny random Llama, built locally) and its adapter
agent. Each figure is timed from the run's create request to its ``completed`` status read back
through the api (so it includes the queue pick-up: arq polls every 0.5 s), and printed with a
baseline measured in the same repeat, then as medians and the median ratio over the repeats.

(a) **string_check, 1,000 inline items** (given samples: nothing is sampled). Baseline: the same
    grader (``parse_grader`` + ``run_grader`` + ``passed``) called in a loop over the same 1,000
    items and samples, in this process.
(b) **completions on the demo model**, ``--items`` items, greedy, ``--max-tokens`` tokens each,
    the worker sampling ``FTAPI_EVALS__MAX_CONCURRENT_SAMPLES_PER_RUN`` (``--concurrency``) at once.
    Baseline: the same prompts sent to ``/v1/chat/completions`` through the gateway alone, at
    the same concurrency.

    python bench/evals_throughput.py
    python bench/evals_throughput.py --repeats 5 --items 64 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.graders.config import GraderCapabilities, parse_grader
from service.graders.grading import passed, run_grader
from service.graders.samples import GradedSample
from tests.support.services import RedisServer
from tests.support.serving_processes import AgentProcess, EngineProcess
from tests.support.stack import ApiServer, StackConfig, write_registry
from tests.support.tiny_model import TinyModels

BASE_MODEL_ID = "ftapi/bench-evals-tiny"
ENGINE_KEY = "engine-" + secrets.token_hex(8)
AGENT_KEY = "agent-" + secrets.token_hex(8)
STRING_CHECK_ITEMS = 1000
STRING_CHECK: dict[str, Any] = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
ITEM_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}


def rows(n: int) -> list[dict[str, Any]]:
    """Items with given samples; every third answer is wrong."""
    return [
        {
            "item": {"question": f"What is {i} + {i}?", "answer": str(2 * i)},
            "sample": {"output_text": str(2 * i) if i % 3 else "wrong"},
        }
        for i in range(n)
    ]


# -- timed phases ------------------------------------------------------------------------------


def timed_run(http: httpx.Client, eval_id: str, data_source: dict[str, Any], items: int) -> float:
    """Items per second of one run, from its create request to ``completed``."""
    started = time.perf_counter()
    created = http.post(f"/evals/{eval_id}/runs", json={"data_source": data_source})
    created.raise_for_status()
    run_id = created.json()["id"]
    while True:
        run = http.get(f"/evals/{eval_id}/runs/{run_id}").json()
        if run["status"] in ("completed", "failed", "canceled"):
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    if run["status"] != "completed" or run["result_counts"]["total"] != items:
        raise RuntimeError(f"run {run_id} ended {run['status']}: {run}")
    return items / elapsed


async def grader_loop(items: list[dict[str, Any]]) -> float:
    """Items per second of the bare grader function over the same items."""
    grader = parse_grader(STRING_CHECK, capabilities=GraderCapabilities(embeddings=False))
    started = time.perf_counter()
    for row in items:
        result = await run_grader(
            grader,
            item=row["item"],
            sample=GradedSample.of_text(row["sample"]["output_text"]),
            models=None,
            embeddings=None,
        )
        passed(grader, result.reward, None)
    return len(items) / (time.perf_counter() - started)


def prompts(n: int) -> list[str]:
    return [f"Tell me about item {i}." for i in range(n)]


def completions_source(n: int, max_tokens: int) -> dict[str, Any]:
    return {
        "type": "completions",
        "model": BASE_MODEL_ID,
        "input_messages": {
            "type": "template",
            "template": [{"role": "user", "content": "{{item.question}}"}],
        },
        "sampling_params": {"temperature": 0, "max_completion_tokens": max_tokens},
        "source": {
            "type": "file_content",
            "content": [{"item": {"question": p, "answer": ""}} for p in prompts(n)],
        },
    }


async def gateway_alone(
    base_url: str, key: str, n: int, concurrency: int, max_tokens: int
) -> float:
    """Items per second of the same prompts sampled through ``/v1/chat/completions``."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for prompt in prompts(n):
        queue.put_nowait(prompt)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {key}"},
        limits=httpx.Limits(max_connections=concurrency),
        timeout=600,
    ) as http:

        async def client() -> None:
            while not queue.empty():
                prompt = queue.get_nowait()
                body = {
                    "model": BASE_MODEL_ID,
                    "messages": [{"role": "user", "content": prompt}],
                    "temperature": 0,
                    "max_tokens": max_tokens,
                }
                (await http.post("/chat/completions", json=body)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return n / (time.perf_counter() - started)


# -- the stack and the report ------------------------------------------------------------------


def start_stack(work: Path, redis: RedisServer, concurrency: int) -> tuple[ApiServer, list[Any]]:
    """The api with a ctl worker, the engine over the demo model and its agent, started."""
    model_dir = TinyModels(work / "models").model_dir("chatml")
    registry = work / "models.toml"
    write_registry(registry, {BASE_MODEL_ID: model_dir})
    engine = EngineProcess(
        model_dir, BASE_MODEL_ID, work / "logs", max_loras=1, max_cpu_loras=1, api_key=ENGINE_KEY
    )
    base = StackConfig(data_dir=work / "data", redis_url=redis.new_database_url())
    agent = AgentProcess(engine, base, work / "agent-cache", max_cpu_loras=1, api_key=AGENT_KEY)
    config = StackConfig(
        data_dir=base.data_dir,
        redis_url=base.redis_url,
        extra_env={
            "FTAPI_MODELS__REGISTRY_PATH": str(registry),
            "FTAPI_SERVING__AGENT_URLS": json.dumps([agent.url]),
            "FTAPI_SERVING__AGENT_API_KEY": AGENT_KEY,
            "FTAPI_EVALS__MAX_CONCURRENT_SAMPLES_PER_RUN": str(concurrency),
        },
    )
    api = ApiServer(config)
    api.start()
    engine.start()
    agent.start()
    agent.wait()
    engine.wait()
    return api, [agent, engine]


def report(label: str, unit: str, runs: list[float], bases: list[float], base_label: str) -> None:
    ratios = [run / base for run, base in zip(runs, bases, strict=True)]
    print(
        f"{label}: median {statistics.median(runs):9.1f} {unit}  "
        f"[{', '.join(f'{r:.1f}' for r in runs)}]\n"
        f"{base_label}: median {statistics.median(bases):9.1f} {unit}  "
        f"[{', '.join(f'{b:.1f}' for b in bases)}]\n"
        f"  median ratio run / baseline (same repeat): {statistics.median(ratios):.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--items", type=int, default=32, help="Items of the completions run.")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ftapi-bench-evals-"))
    redis = RedisServer(work / "redis")
    redis.start()
    api: ApiServer | None = None
    others: list[Any] = []
    try:
        started = time.perf_counter()
        api, others = start_stack(work, redis, args.concurrency)
        print(f"stack up in {time.perf_counter() - started:.1f} s")
        key = api.new_key("bench")
        http = httpx.Client(
            base_url=api.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )
        created = http.post(
            "/evals",
            json={
                "name": "bench",
                "data_source_config": {
                    "type": "custom",
                    "item_schema": ITEM_SCHEMA,
                    "include_sample_schema": True,
                },
                "testing_criteria": [STRING_CHECK],
            },
        )
        created.raise_for_status()
        eval_id = created.json()["id"]
        string_rows = rows(STRING_CHECK_ITEMS)
        jsonl = {"type": "jsonl", "source": {"type": "file_content", "content": string_rows}}
        completions = completions_source(args.items, args.max_tokens)
        asyncio.run(gateway_alone(api.base_url, key, 1, 1, args.max_tokens))  # warm the engine

        graded, loops, sampled, alone = [], [], [], []
        for repeat in range(1, args.repeats + 1):
            graded.append(timed_run(http, eval_id, jsonl, STRING_CHECK_ITEMS))
            loops.append(asyncio.run(grader_loop(string_rows)))
            sampled.append(timed_run(http, eval_id, completions, args.items))
            alone.append(
                asyncio.run(
                    gateway_alone(api.base_url, key, args.items, args.concurrency, args.max_tokens)
                )
            )
            print(
                f"  repeat {repeat}: string_check run {graded[-1]:.1f} items/s, grader loop "
                f"{loops[-1]:.1f} items/s; completions run {sampled[-1]:.2f} items/s, gateway "
                f"alone {alone[-1]:.2f} items/s"
            )
        print(f"medians over {args.repeats} repeats:")
        report(
            f"(a) string_check run, {STRING_CHECK_ITEMS} inline items",
            "items/s",
            graded,
            loops,
            "    the same grader function in a loop",
        )
        report(
            f"(b) completions run on the demo model, {args.items} items, {args.max_tokens} "
            f"tokens, {args.concurrency} at once",
            "items/s",
            sampled,
            alone,
            f"    sampling through the gateway alone, {args.concurrency} at once",
        )
    finally:
        if api is not None:
            api.stop()
        for process in others:
            process.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
