"""Names shared by the gateway, the agent and the engine.

An adapter's engine-side name (vLLM's ``lora_name``, also its cache directory name) is derived
from the public model id by hashing, so no tenant-chosen text (a job suffix) ever reaches a path,
a URL or the engine, and the colons of ``ft:`` ids never meet engines that give ``:`` a meaning.
"""

from __future__ import annotations

import hashlib
import re

ADAPTER_NAME_PREFIX = "ftm-"
_ADAPTER_NAME = re.compile(r"ftm-[0-9a-f]{32}")

# Gateway -> agent: where the adapter of the request's ``model`` lives in the blob store.
ADAPTER_PREFIX_HEADER = "x-ftapi-adapter-prefix"
REQUEST_ID_HEADER = "x-request-id"
# Agent -> gateway, on a 503 ``model_unservable``: "true" on the one answer that first reports
# this agent's failed parity check, so the job gets one event per agent, not one per request.
FIRST_REPORT_HEADER = "x-ftapi-first-report"
MODEL_UNSERVABLE_CODE = "model_unservable"

# Agent routes besides the OpenAI inference routes it proxies.
AGENT_EVICT_PATH = "/agent/evict"
AGENT_STATE_PATH = "/agent/state"


def engine_adapter_name(model_id: str) -> str:
    """The engine-side name of the fine-tuned model (or checkpoint) ``model_id``."""
    digest = hashlib.sha256(model_id.encode()).hexdigest()[:32]
    return f"{ADAPTER_NAME_PREFIX}{digest}"


def is_adapter_name(name: str) -> bool:
    """Whether ``name`` is an engine-side adapter name (safe as a directory name)."""
    return _ADAPTER_NAME.fullmatch(name) is not None
