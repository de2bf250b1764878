"""Benchmark: streaming validation of a chat JSONL against a bare ``json.loads`` loop.

    python bench/validate.py                   # ~1 GiB file in a temp dir, 3 repetitions
    python bench/validate.py --size-mb 64 --repeat 5
    python bench/validate.py --path /data/chat.jsonl   # keeps the file

Each measurement runs in its own child process, so the peak RSS printed for validation is
that of validation alone (not of generating the file or of the baseline). Target (issue #3):
ratio >= 1.0 (validation at least as fast as the baseline) and validation peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CHUNK_BYTES = 1 << 20
DISTINCT_EXAMPLES = 4000
# fmt: off
WORDS = [
    "the", "a", "model", "answer", "question", "data", "train", "token", "loss", "weight", "chat",
    "user", "assistant", "tool", "call", "function", "city", "weather", "Paris", "Tokyo", "résumé",
    "naïve", "café", "東京", "天気", "données", "Straße", "🙂", "✓", "please", "explain", "why",
    "how", "when", "because", "therefore", "result", "value", "list", "item", "number",
]
# fmt: on
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["c", "f"]},
                },
                "required": ["city"],
            },
        },
    }
]


def _text(rng: random.Random, min_words: int, max_words: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(min_words, max_words)))


def _example(rng: random.Random) -> dict[str, Any]:
    """A varied chat example: system or not, 1-4 turns, weights, tools, content parts."""
    kind = rng.random()
    messages: list[dict[str, Any]] = []
    if rng.random() < 0.5:
        messages.append({"role": "system", "content": _text(rng, 5, 40)})
    if kind < 0.15:  # tool use
        messages.append({"role": "user", "content": _text(rng, 5, 30)})
        arguments = json.dumps({"city": rng.choice(["Paris", "Tokyo", "東京"])})
        call = {
            "id": f"call_{rng.randrange(10**6)}",
            "type": "function",
            "function": {"name": "get_weather", "arguments": arguments},
        }
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": _text(rng, 3, 15)})
        messages.append({"role": "assistant", "content": _text(rng, 10, 80)})
        return {"messages": messages, "tools": TOOLS, "parallel_tool_calls": False}
    for turn in range(rng.randint(1, 4)):
        if kind < 0.25:  # content parts
            messages.append(
                {"role": "user", "content": [{"type": "text", "text": _text(rng, 5, 60)}]}
            )
        else:
            messages.append({"role": "user", "content": _text(rng, 5, 60)})
        reply: dict[str, Any] = {"role": "assistant", "content": _text(rng, 10, 200)}
        if kind < 0.4:  # mixed weights: earlier turns not trained
            reply["weight"] = 1 if turn % 2 else 0
        messages.append(reply)
    if all(m.get("weight", 1) == 0 for m in messages if m["role"] == "assistant"):
        messages[-1]["weight"] = 1
    return {"messages": messages}


def generate(path: Path, size_mb: int, seed: int = 0) -> int:
    """Write about ``size_mb`` MiB of chat JSONL; return the number of lines."""
    rng = random.Random(seed)
    pool = [
        json.dumps(_example(rng), ensure_ascii=False).encode() + b"\n"
        for _ in range(DISTINCT_EXAMPLES)
    ]
    target = size_mb * (1 << 20)
    written = n_lines = 0
    with path.open("wb") as out:
        while written < target:
            batch = rng.choices(pool, k=1000)
            data = b"".join(batch)
            out.write(data)
            written += len(data)
            n_lines += len(batch)
    return n_lines


def _timed(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``run`` and add its wall time and CPU time (CPU time is steadier on a busy machine)."""
    wall_started, cpu_started = time.perf_counter(), time.process_time()
    result = run()
    result["elapsed_s"] = time.perf_counter() - wall_started
    result["cpu_s"] = time.process_time() - cpu_started
    return result


def _child_validate(path: Path) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from service.datasets.validation.validator import validate_jsonl

    def chunks() -> Iterator[bytes]:
        with path.open("rb", buffering=0) as blob:
            while chunk := blob.read(CHUNK_BYTES):
                yield chunk

    def run() -> dict[str, Any]:
        report = validate_jsonl(chunks())
        return {"ok": report.ok, "problem_counts": report.problem_counts}

    return _timed(run)


def _child_baseline(path: Path) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                json.loads(line)
        return {}

    return _timed(run)


def _run_child(mode: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--path", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out))


def _compare(path: Path, repeat: int) -> None:
    """Time both loops ``repeat`` times, interleaved, and print medians and the ratio."""
    size_mb = path.stat().st_size / 1e6
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "validate": []}
    for rep in range(1, repeat + 1):
        for mode, results in runs.items():
            results.append(_run_child(mode, path))
        base, valid = runs["baseline"][-1], runs["validate"][-1]
        if not valid["ok"]:
            sys.exit(f"the generated file did not validate: {valid['problem_counts']}")
        print(
            f"  run {rep}: json.loads loop {base['elapsed_s']:.2f} s (CPU {base['cpu_s']:.2f} s, "
            f"peak RSS {base['peak_rss_mb']:.0f} MB); validate_jsonl {valid['elapsed_s']:.2f} s "
            f"(CPU {valid['cpu_s']:.2f} s, peak RSS {valid['peak_rss_mb']:.0f} MB)"
        )

    def median(mode: str, key: str) -> float:
        return float(statistics.median(result[key] for result in runs[mode]))

    def best(mode: str) -> float:
        return min(result["elapsed_s"] for result in runs[mode])

    base_s, val_s = median("baseline", "elapsed_s"), median("validate", "elapsed_s")
    base_cpu_s, val_cpu_s = median("baseline", "cpu_s"), median("validate", "cpu_s")
    rss_mb = max(result["peak_rss_mb"] for result in runs["validate"])
    print(f"medians of {repeat} runs on {size_mb:.0f} MB:")
    print(f"baseline   (json.loads per line): {size_mb / base_s:7.1f} MB/s")
    print(f"validation (validate_jsonl)     : {size_mb / val_s:7.1f} MB/s")
    print(f"ratio validation / baseline     : {base_s / val_s:7.2f}  (target >= 1.0)")
    print(f"  same ratio in CPU time        : {base_cpu_s / val_cpu_s:7.2f}")
    print(f"  same ratio of the best runs   : {best('baseline') / best('validate'):7.2f}")
    print(f"validation peak RSS             : {rss_mb:7.1f} MB  (target < 200 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--path", type=Path, help="write the JSONL here and keep it")
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["validate", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = (_child_validate if args.child == "validate" else _child_baseline)(args.path)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or Path(tmp) / "chat.jsonl"
        started = time.perf_counter()
        n_lines = generate(path, args.size_mb)
        elapsed_s = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6
        print(f"generated {path}: {size_mb:.0f} MB, {n_lines} lines in {elapsed_s:.0f} s")
        _compare(path, args.repeat)


if __name__ == "__main__":
    main()
