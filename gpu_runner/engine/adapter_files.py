"""What a ``lora_path`` holds, checked the way vLLM checks it before any weight is read.

A path without ``adapter_config.json`` is vLLM's "No adapter found" (404); anything else wrong is a
rejected adapter (400). The rules are the shared ``validate_adapter`` that the trainer also runs,
applied to the two files vLLM reads: like vLLM, other files beside them (peft's ``README.md``, the
agent's ``manifest.json``) are ignored rather than refused.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gpu_runner.engine.errors import BadRequestError, adapter_files_missing
from service.models.adapters import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_FILE_NAMES,
    AdapterInfo,
    InvalidAdapterError,
    validate_adapter,
)


def check_adapter_dir(name: str, path: str, *, max_lora_rank: int) -> AdapterInfo:
    """Validate the adapter at ``path``; ``NotFoundError`` or ``BadRequestError`` if unusable."""
    directory = Path(path)
    if not (directory / ADAPTER_CONFIG_NAME).is_file():
        raise adapter_files_missing(name, path)
    with tempfile.TemporaryDirectory(prefix="ftapi-adapter-view-") as view:
        view_dir = Path(view)
        for file_name in ADAPTER_FILE_NAMES:
            if (directory / file_name).exists():
                (view_dir / file_name).symlink_to((directory / file_name).resolve())
        try:
            return validate_adapter(view_dir, max_lora_rank=max_lora_rank)
        except InvalidAdapterError as exc:
            raise BadRequestError(f"Loading lora {name} failed: {' '.join(exc.problems)}") from exc
