"""``ftapi dev``: the whole service on embedded defaults, in one supervised process tree."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import time
from typing import Annotated
from urllib.parse import urlparse

import typer
import uvicorn
from redis import Redis
from redis.exceptions import RedisError

from service.cli.keys import create_key
from service.settings import Settings

REDIS_START_TIMEOUT_S = 10.0


def dev(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
) -> None:
    """Start ftapi locally (SQLite, local disk, local Redis) and print how to call it."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    children: list[subprocess.Popen[bytes]] = []
    redis_process = _ensure_redis(settings)
    if redis_process is not None:
        children.append(redis_process)
    try:
        key = asyncio.run(create_key(settings, "default"))
        children.extend(_start_workers(settings))
        base_url = f"http://{host}:{port}/v1"
        typer.echo(_banner(base_url, key))
        uvicorn.run(
            "service.http.app:create_app",
            factory=True,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
        )
    finally:
        for child in reversed(children):  # workers first, Redis last
            child.terminate()
        for child in reversed(children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=15)


def _start_workers(settings: Settings) -> list[subprocess.Popen[bytes]]:
    """A ctl worker, and a gpu worker when a trainer is configured."""
    queues = ["ctl"] + (["gpu"] if settings.trainer.import_path else [])
    if not settings.trainer.import_path:
        typer.echo("No trainer configured (FTAPI_TRAINER__IMPORT_PATH): jobs will wait in queue.")
    return [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed argv
            [sys.executable, "-m", "service.cli", "worker", "--queue", queue]
        )
        for queue in queues
    ]


def _ensure_redis(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Use the configured Redis if it answers; otherwise start a private redis-server."""
    if _redis_answers(settings.redis.url):
        return None
    binary = shutil.which("redis-server")
    if binary is None:
        raise typer.BadParameter(
            f"Redis at {settings.redis.url} does not answer and redis-server is not installed. "
            "Install it (Debian: `apt-get install redis-server`) or set FTAPI_REDIS__URL.",
            param_hint="FTAPI_REDIS__URL",
        )
    parsed = urlparse(settings.redis.url)
    redis_dir = settings.data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [
            binary,
            "--bind",
            parsed.hostname or "127.0.0.1",
            "--port",
            str(parsed.port or 6379),
            "--dir",
            str(redis_dir.resolve()),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + REDIS_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _redis_answers(settings.redis.url):
            return process
        time.sleep(0.1)
    process.terminate()
    raise typer.BadParameter(f"redis-server did not start on {settings.redis.url}")


def _redis_answers(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except (OSError, RedisError):
        return False
    finally:
        client.close()


def _banner(base_url: str, key: str) -> str:
    return f"""
ftapi is starting at {base_url}

  API key (shown once): {key}

  curl {base_url}/files -H "Authorization: Bearer {key}" \\
       -F purpose=fine-tune -F file=@train.jsonl

  python -c 'from openai import OpenAI
  client = OpenAI(base_url="{base_url}", api_key="{key}")
  print(client.files.list())'

Press Ctrl-C to stop.
"""
