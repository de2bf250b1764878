"""``ftapi dev``: the whole service on embedded defaults, in one supervised process tree."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
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
    redis_process = _ensure_redis(settings)
    try:
        key = asyncio.run(create_key(settings, "default"))
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
        if redis_process is not None:
            redis_process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                redis_process.wait(timeout=5)


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
