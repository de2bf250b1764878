"""A ``/metrics`` stub with the vLLM gauges routers read (Prometheus text format).

``vllm:num_requests_running`` / ``vllm:num_requests_waiting`` count worker jobs;
``vllm:lora_requests_info`` carries, as labels, the adapters of running and waiting requests
(activity, not residency, exactly like vLLM's gauge).
"""

from __future__ import annotations

import time
from collections import Counter


def render_metrics(
    model_name: str,
    running: int,
    waiting: int,
    max_loras: int,
    running_adapters: Counter[str],
    waiting_adapters: Counter[str],
) -> str:
    """The metrics page."""
    label = _escape(model_name)
    running_names = ",".join(sorted(name for name, n in running_adapters.items() if n > 0))
    waiting_names = ",".join(sorted(name for name, n in waiting_adapters.items() if n > 0))
    lines = [
        "# HELP vllm:num_requests_running Number of requests in model execution batches.",
        "# TYPE vllm:num_requests_running gauge",
        f'vllm:num_requests_running{{model_name="{label}"}} {float(running)}',
        "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
        "# TYPE vllm:num_requests_waiting gauge",
        f'vllm:num_requests_waiting{{model_name="{label}"}} {float(waiting)}',
        "# HELP vllm:lora_requests_info Running stats on lora requests.",
        "# TYPE vllm:lora_requests_info gauge",
        f'vllm:lora_requests_info{{max_lora="{max_loras}",'
        f'running_lora_adapters="{_escape(running_names)}",'
        f'waiting_lora_adapters="{_escape(waiting_names)}"}} {time.time()}',
    ]
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
