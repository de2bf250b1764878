"""Where handlers and middleware find the process ``Runtime``."""

from __future__ import annotations

from litestar import Litestar

from service.runtime import Runtime

_STATE_KEY = "runtime"


def runtime_of(app: Litestar) -> Runtime:
    """The runtime stored on the app at start-up."""
    runtime: Runtime = app.state[_STATE_KEY]
    return runtime


def attach_runtime(app: Litestar, runtime: Runtime) -> None:
    """Store the runtime on the app (done once, in the lifespan)."""
    app.state[_STATE_KEY] = runtime
