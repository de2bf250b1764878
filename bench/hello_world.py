"""The ceiling for ``bench/load.py``: the least a Litestar app can do per request.

A module of its own so the uvicorn child serving it imports nothing else (``bench/load.py``
pulls in torch to build the tiny model).
"""

from __future__ import annotations

from litestar import Litestar, get


@get("/hello")
async def hello() -> dict[str, str]:
    """One small JSON body, as the api's cheapest routes answer."""
    return {"hello": "world"}


def hello_world_app() -> Litestar:
    """The app, with the api's logging and debug settings."""
    return Litestar([hello], logging_config=None, debug=False)
