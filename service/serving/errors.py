"""What can go wrong between an adapter agent, its cache and its engine.

    ServingError
    ├── EngineUnavailable        the engine refused, reset, timed out or answered 5xx: retry
    │                            elsewhere or later
    ├── AgentBusy                every adapter slot has requests in flight: retry elsewhere
    ├── ModelUnservable          the engine's answers to the parity probes are not the trained
    │                            model's (wrong base, template or weights): not on this replica
    └── AdapterUnservable        this adapter cannot be served here (permanent until fixed)
        ├── AdapterSourceMissing     no committed manifest under its blob prefix
        ├── AdapterCorrupt           a file does not match its manifest, or breaks the
        │                            ``validate_adapter`` rules
        ├── AdapterRejected          the engine refused it on load (400: rank, modules, …)
        └── AdapterFilesMissing      the engine could not read its directory (404 on load)

The agent's HTTP layer maps ``EngineUnavailable`` and ``AgentBusy`` to 503 (the gateway then
tries the next agent), ``ModelUnservable`` to 503 with the code ``model_unservable`` (another
replica may serve it right), and ``AdapterUnservable`` to 500 with the code
``adapter_unservable``.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base of the agent's errors; ``message`` is safe to log and to show an operator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EngineUnavailable(ServingError):
    """The engine cannot take requests right now."""


class AgentBusy(ServingError):
    """No adapter slot could be freed: every loaded adapter has requests in flight."""


class ModelUnservable(ServingError):
    """The adapter loaded, but the engine does not reproduce the trained model's probes.

    ``reason`` is a ``MismatchReason`` value (a metric label); ``first_report`` is set on the
    one raise that first tells a caller about this agent's verdict.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.first_report = False


class AdapterUnservable(ServingError):
    """The adapter cannot be served by this agent's engine."""


class AdapterSourceMissing(AdapterUnservable):
    """The blob store holds no committed adapter under the given prefix."""


class AdapterCorrupt(AdapterUnservable):
    """The stored adapter does not match its manifest or is not a servable LoRA adapter."""


class AdapterRejected(AdapterUnservable):
    """The engine answered 400 to loading the adapter."""


class AdapterFilesMissing(AdapterUnservable):
    """The engine answered 404 to loading the adapter: it could not read the directory."""
