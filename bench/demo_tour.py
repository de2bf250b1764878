"""The README tour's job on the shipped demo base, seed by seed: exact match, base vs tuned.

Trains the tour's file (20 "What is i plus i?" questions) with the real training loop in this
process, every hyperparameter ``auto`` and the demo base's registry learning rate, once per seed
(a job's seed is random unless given), and counts the trained questions each model answers
exactly, greedily. The base's count is the same-run baseline. ``tests/docs/test_readme_tour.py``
runs the same tour through the service once; this shows the spread across seeds.

    python bench/demo_tour.py [--seeds 1 2 3 4 5 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_runner.demo_base.build import DEMO_LEARNING_RATE
from gpu_runner.demo_base.shipped import SHIPPED_DIR
from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.distributed import Ranks
from gpu_runner.training.loop import TrainingRun
from service.jobs.hyperparameters import (
    auto_batch_size,
    auto_learning_rate_multiplier,
    auto_n_epochs,
)
from tests.support.lora import RecordingChannel, greedy_reply, training_spec

TOUR = [(f"What is {i} plus {i}?", str(2 * i)) for i in range(20)]  # the README's toy file


def exact(adapter_dir: Path | None) -> int:
    """How many tour questions the demo base (with the adapter, if given) answers exactly."""
    return sum(greedy_reply(SHIPPED_DIR, adapter_dir, q, 8) == a for q, a in TOUR)


def tuned_adapter(work: Path, seed: int) -> tuple[Path, float]:
    """The tour job's adapter for ``seed``, and its training seconds."""
    work.mkdir(parents=True)
    training_file = work / "train.jsonl"
    training_file.write_text(
        "".join(
            json.dumps(
                {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            )
            + "\n"
            for q, a in TOUR
        )
    )
    batch_size = auto_batch_size(len(TOUR))
    spec = training_spec(
        SHIPPED_DIR,
        training_file,
        work / "run",
        base_model_id="ftapi/demo-tiny",
        n_epochs=auto_n_epochs(len(TOUR)),
        batch_size=batch_size,
        learning_rate_multiplier=auto_learning_rate_multiplier(batch_size),
        base_learning_rate=DEMO_LEARNING_RATE,
        seed=seed,
    )
    config = RunConfig.from_spec(spec, LoraTrainerSettings())
    channel = RecordingChannel()
    started = time.perf_counter()
    TrainingRun(config, channel, channel, Ranks()).run()
    return config.adapter_dir, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 7])
    args = parser.parse_args()
    torch.set_num_threads(1)  # what a shared CPU gives a job; also keeps float order fixed

    base = exact(None)
    work = Path(tempfile.mkdtemp(prefix="ftapi-bench-tour-"))
    tuned: list[int] = []
    for seed in args.seeds:
        adapter, seconds = tuned_adapter(work / f"seed-{seed}", seed)
        tuned.append(exact(adapter))
        print(f"seed {seed}: tuned {tuned[-1]}/{len(TOUR)} exact (trained in {seconds:.1f} s)")
    print(f"base (same run): {base}/{len(TOUR)} exact")
    print(f"tuned: median {statistics.median(tuned):g}/{len(TOUR)}, min {min(tuned)}/{len(TOUR)}")


if __name__ == "__main__":
    main()
