"""``python -m tests.support.drifting_merge``: ``gpu_runner.export`` with one saved weight nudged
before the logits check reloads it (see ``tests/support/merge_faults``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gpu_runner.export import __main__ as export_main
from gpu_runner.export import merge

_real_load_base = merge.load_base


def _drifted_load(directory: Path, dtype: Any = None) -> Any:
    model = _real_load_base(directory, dtype)
    if directory == Path(sys.argv[3]):  # the merged output, reloaded for the check
        import torch

        with torch.no_grad():
            model.lm_head.weight.add_(1e-2)
    return model


if __name__ == "__main__":
    merge.load_base = _drifted_load
    sys.exit(export_main.main(sys.argv[1:]))
