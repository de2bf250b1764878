"""The README's run command, timed: ready server, first demo job, restart.

    python bench/first_run.py [--examples 20] [--epochs 1]

Runs ``ftapi dev`` exactly as ``scripts/run`` does (the install is already cached, so the
bootstrap step is a no-op) in a fresh data dir with a private Redis, and prints:

- start → ``/readyz`` 200 (api, database, Redis, blob store) and → the demo base model answers
  a chat completion (engine and agent up), on a first start (the demo model is built) and on a
  restart over the same data dir;
- the first job's wall time: upload → ``succeeded``, and → the first answer of its ``ft:`` model.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openai import OpenAI

from cli.dev import DEMO_MODEL_ID
from tests.docs.dev_stack import DevStack
from tests.support.services import RedisServer

TERMINAL = ("succeeded", "failed", "cancelled")


def _demo_data(n_examples: int) -> bytes:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"What is {i} plus {i}?"},
                    {"role": "assistant", "content": "Ahoy! Ask the ship's parrot."},
                ]
            }
        )
        for i in range(n_examples)
    ]
    return ("\n".join(lines) + "\n").encode()


def _until_base_answers(client: OpenAI, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.chat.completions.create(
                model=DEMO_MODEL_ID, messages=[{"role": "user", "content": "hi"}], max_tokens=1
            )
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _start(stack: DevStack) -> tuple[float, float, OpenAI]:
    started = time.monotonic()
    stack.start()
    ready = time.monotonic() - started
    client = OpenAI(base_url=stack.base_url, api_key=stack.api_key, max_retries=0)
    _until_base_answers(client)
    return ready, time.monotonic() - started, client


def _first_job(client: OpenAI, examples: int, epochs: int) -> tuple[float, float, str]:
    started = time.monotonic()
    training = client.files.create(file=("demo.jsonl", _demo_data(examples)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=DEMO_MODEL_ID,
        training_file=training.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}},
    )
    while job.status not in TERMINAL:
        time.sleep(0.2)
        job = client.fine_tuning.jobs.retrieve(job.id)
    succeeded = time.monotonic() - started
    if job.status != "succeeded" or job.fine_tuned_model is None:
        raise SystemExit(f"the demo job ended {job.status}: {job.error}")
    reply = client.chat.completions.create(
        model=job.fine_tuned_model,
        messages=[{"role": "user", "content": "What is 3 plus 3?"}],
        max_tokens=12,
        temperature=0,
    )
    return succeeded, time.monotonic() - started, reply.choices[0].message.content or ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ftapi-first-run-") as scratch:
        root = Path(scratch)
        redis = RedisServer(root / "redis")
        redis.start()
        try:
            redis_url = redis.new_database_url()
            stack = DevStack(root / "data", redis_url)
            try:
                ready, answering, client = _start(stack)
                print(
                    f"first start: /readyz 200 after {ready:.1f} s, demo base answers after "
                    f"{answering:.1f} s (builds the demo model)"
                )
                succeeded, answered, text = _first_job(client, args.examples, args.epochs)
                print(
                    f"first job ({args.examples} examples, {args.epochs} epoch): succeeded "
                    f"after {succeeded:.1f} s, its model answered after {answered:.1f} s: "
                    f"{text!r}"
                )
            finally:
                stack.stop()
            restarted = DevStack(root / "data", redis_url)
            try:
                ready, answering, client = _start(restarted)
                kept = [f.id for f in client.files.list()]
                print(
                    f"restart: /readyz 200 after {ready:.1f} s, demo base answers after "
                    f"{answering:.1f} s; {len(kept)} file(s) kept"
                )
            finally:
                restarted.stop()
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
