"""Benchmark: tokenization with loss masks (``ChatTokenizer``) on the tiny demo model's tokenizer.

    python bench/tokenization.py                    # 4000 generated chat examples, both templates
    python bench/tokenization.py --examples 20000 --batch 512 --template llama3

Prints examples/s and tokens/s for the batched path (``tokenize_batch``: one ``encode_batch``
per batch, what the dataset report and the trainer use), for one example at a time, for a
baseline that only runs the Rust tokenizer's ``encode_batch`` on the already rendered text (the
floor: everything above it is template rendering, masks and checks), and for long conversations
(32 exchanges), where rendering prefixes costs O(turns²) characters.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_runner.demo_model import build_tiny_llama
from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.datasets.validation.formats import DatasetFormat

_VOCABULARY = (
    "the a model answer question data train token loss weight chat user assistant tool call "
    "function city weather Paris Tokyo résumé naïve café 東京 天気 données Straße 🙂 ✓ "
    "please explain why how when because therefore result value list item number"
)
WORDS = _VOCABULARY.split()
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def generate_examples(
    count: int, seed: int, exchanges: tuple[int, int] = (1, 6)
) -> list[dict[str, Any]]:
    """Chat examples with 1-6 exchanges, some weight-0 turns, some tool calls."""
    rng = random.Random(seed)
    examples: list[dict[str, Any]] = []
    for _ in range(count):
        messages: list[dict[str, Any]] = [{"role": "system", "content": _text(rng, 3, 12)}]
        example: dict[str, Any] = {"messages": messages}
        for turn in range(rng.randint(*exchanges)):
            messages.append({"role": "user", "content": _text(rng, 5, 60)})
            if turn == 0 and rng.random() < 0.15:
                example["tools"] = TOOLS
                arguments = json.dumps({"city": rng.choice(["Paris", "Tokyo"])})
                call = {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
                messages.append({"role": "assistant", "tool_calls": [call]})
                messages.append({"role": "tool", "tool_call_id": "c1", "content": _text(rng, 2, 8)})
            answer: dict[str, Any] = {"role": "assistant", "content": _text(rng, 5, 120)}
            if rng.random() < 0.2:
                answer["weight"] = 0
            messages.append(answer)
        examples.append(example)
    return examples


def _best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _rate(label: str, examples: int, tokens: int, seconds: float) -> str:
    return f"  {label:<34}{examples / seconds:8.0f} examples/s {tokens / seconds:10.0f} tokens/s"


def bench_template(template: str, examples: list[dict[str, Any]], batch: int, repeat: int) -> None:
    """Print the throughput of one tiny model's tokenizer on ``examples``."""
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_llama(Path(tmp) / template, chat_template=template)
        tokenizer = ChatTokenizer.from_model_dir(model_dir, max_seq_length=1 << 16)
    chat = DatasetFormat.CHAT
    batches = [examples[i : i + batch] for i in range(0, len(examples), batch)]
    results = [tokenizer.tokenize_chat(example)[0] for example in examples]
    n, n_tokens = len(examples), sum(tokens.n_tokens for tokens in results)
    n_trained = sum(tokens.n_trained for tokens in results)
    messages = statistics.mean(len(example["messages"]) for example in examples)
    print(
        f"[{template}] {n} examples: {messages:.1f} messages, {n_tokens / n:.0f} tokens each, "
        f"{n_trained / n_tokens:.0%} of tokens trained"
    )

    batched_s = _best_of(repeat, lambda: [tokenizer.tokenize_batch(c, chat) for c in batches])
    single_s = _best_of(repeat, lambda: [tokenizer.tokenize_chat(e) for e in examples])
    texts = [tokenizer.render_chat(e["messages"], tools=e.get("tools")) for e in examples]
    backend = tokenizer._tokenizer  # the same Rust tokenizer, without rendering or masks
    encode_s = _best_of(
        repeat, lambda: [backend.encode_batch(texts[i : i + batch]) for i in range(0, n, batch)]
    )
    print(_rate(f"tokenize_batch ({batch} per call)", n, n_tokens, batched_s))
    print(_rate("tokenize_chat (one at a time)", n, n_tokens, single_s))
    print(_rate("baseline: encode_batch of the text", n, n_tokens, encode_s))

    long = generate_examples(max(n // 40, 10), seed=1, exchanges=(32, 32))
    long_tokens = sum(tokenizer.tokenize_chat(example)[0].n_tokens for example in long)
    long_s = _best_of(repeat, lambda: tokenizer.tokenize_batch(long, chat))
    print(
        _rate(
            f"32-exchange chats ({long_tokens // len(long)} tokens)", len(long), long_tokens, long_s
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--template", choices=["chatml", "llama3", "both"], default="both")
    args = parser.parse_args()
    examples = generate_examples(args.examples, args.seed)
    for template in ("chatml", "llama3") if args.template == "both" else (args.template,):
        bench_template(template, examples, args.batch, args.repeat)


if __name__ == "__main__":
    main()
