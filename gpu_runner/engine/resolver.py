"""vLLM's ``lora_filesystem_resolver``: a request naming an unknown adapter finds it on disk.

With ``VLLM_LORA_RESOLVER_CACHE_DIR`` set, a ``model`` that is neither the base nor registered is
looked up as ``<dir>/<model>/adapter_config.json``; it is used only if ``peft_type`` is ``LORA``
and ``base_model_name_or_path`` equals the engine's ``--model`` string exactly (not the served
name), as vLLM checks (``vllm/plugins/lora_resolvers/filesystem_resolver.py``). It is the
backstop for a request that reaches a freshly restarted engine before the agent re-loads.
"""

from __future__ import annotations

import json
from pathlib import Path


def find_cached_adapter(cache_dir: Path, lora_name: str, base_model: str) -> Path | None:
    """The directory holding ``lora_name`` for ``base_model`` under ``cache_dir``, if any."""
    directory = cache_dir / lora_name  # a "/" in the name is a sub-path, as in vLLM
    config_path = directory / "adapter_config.json"
    if not config_path.is_file():
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(config, dict):
        return None
    if config.get("peft_type") != "LORA" or config.get("base_model_name_or_path") != base_model:
        return None
    return directory
