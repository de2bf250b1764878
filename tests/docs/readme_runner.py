"""Runs README blocks in order in one process, the way a reader pastes them: python blocks share
one namespace (``client`` and ``job`` carry over), shell blocks run in bash with ``-euo
pipefail``. Usage: ``python readme_runner.py BLOCKS.json``; stops at the first failing block."""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from pathlib import Path


def main(blocks_path: str) -> int:
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for block in json.loads(Path(blocks_path).read_text()):
        print(f"=== README line {block['line']} ({block['language']})", flush=True)
        if block["language"] == "python":
            try:
                exec(compile(block["code"], f"README.md:{block['line']}", "exec"), namespace)  # noqa: S102
            except Exception:
                traceback.print_exc()
                return 1
        else:
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", block["code"]], check=False)
            if done.returncode != 0:
                print(f"shell block failed with exit status {done.returncode}", flush=True)
                return 1
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
