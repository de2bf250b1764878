"""A fault a test gpu worker injects into its merged exports (loaded as ``sitecustomize``).

The worker is started with this directory first on PYTHONPATH; the merge child it starts
inherits it. For a model whose id holds ``DRIFTING_MODEL_MARK``, the worker runs
``tests.support.drifting_merge`` instead of ``gpu_runner.export``: the real merge, whose saved
weights are nudged before the logits check reads them back, as a broken merge would leave them.
Every other model is merged unchanged. Production never has this directory on its path.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gpu_runner.gpu_worker import merged_export

DRIFTING_MODEL_MARK = "driftmerge"

_real_merge_command = merged_export.merge_command
_marked: set[str] = set()
_real_build = merged_export.MergedExportBuilder.build


async def _build(
    self: merged_export.MergedExportBuilder, project_id: str, model_id: str, attempt: int
) -> None:
    if DRIFTING_MODEL_MARK in model_id:
        _marked.add(model_id)
    try:
        await _real_build(self, project_id, model_id, attempt)
    finally:
        _marked.discard(model_id)


def _merge_command(
    base_dir: Path, adapter_dir: Path, out_dir: Path, report: Path, chat_template: Path | None
) -> list[str]:
    command = _real_merge_command(base_dir, adapter_dir, out_dir, report, chat_template)
    if _marked:  # the gpu worker builds one export at a time
        return [sys.executable, "-m", "tests.support.drifting_merge", *command[3:]]
    return command


merged_export.MergedExportBuilder.build = _build  # type: ignore[method-assign]
merged_export.merge_command = _merge_command
