"""``python -m gpu_runner.demo_base pretrain --out DIR``: rebuild the demo base from scratch.

With the defaults this is the run that made the shipped model (``gpu_runner/demo_base/model``);
``--steps`` shortens it for a quick check.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from gpu_runner.demo_base.build import build
from gpu_runner.demo_base.pretrain import PretrainConfig


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the build; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m gpu_runner.demo_base")
    commands = parser.add_subparsers(dest="command", required=True)
    pretrain = commands.add_parser("pretrain", help="pretrain the demo base into --out")
    pretrain.add_argument("--out", type=Path, required=True)
    pretrain.add_argument("--steps", type=int, default=PretrainConfig.steps)
    pretrain.add_argument("--seed", type=int, default=PretrainConfig.seed)
    args = parser.parse_args(argv)
    config = dataclasses.replace(PretrainConfig(), steps=args.steps, seed=args.seed)
    manifest = build(args.out, config)
    print(
        f"{args.out}: {manifest.parameters} parameters, final loss {manifest.final_loss}, "
        f"{manifest.pretrain_wall_s} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
