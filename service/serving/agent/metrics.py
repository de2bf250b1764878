"""The agent's own Prometheus metrics, served at its ``GET /metrics``.

Counted in this process only (each replica reports its own): what the agent decides on its own
and nothing else sees, such as a failed parity check.
"""

from __future__ import annotations

from prometheus_client import Counter

MODEL_UNSERVABLE = Counter(
    "ftapi_agent_model_unservable",
    "Adapters this agent refused to serve because its engine did not reproduce the trained "
    "model's parity probes, by reason.",
    ["reason"],
)
