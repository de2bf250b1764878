"""Start an engine: load the model, then serve vLLM's routes with uvicorn.

The port opens only once the model is loaded, so ``GET /health`` answering means ready, as with
vLLM.
"""

from __future__ import annotations

import logging

import uvicorn

from gpu_runner.engine.config import EngineConfig
from gpu_runner.engine.embeddings import Embedder, EmbedderConfig
from gpu_runner.engine.engine import Engine
from gpu_runner.engine.http import create_app

logger = logging.getLogger(__name__)


def serve(
    config: EngineConfig,
    *,
    host: str,
    port: int,
    embedder: EmbedderConfig | None = None,
    log_level: str = "info",
) -> None:
    """Load the model in ``config`` (and the embedding model, if any) and serve them on
    ``host:port`` until stopped."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    engine = Engine.load(config)
    embeddings = None if embedder is None else Embedder(embedder, engine.device)
    logger.info(
        "engine ready: %s as %r on %s (max %d resident adapters, max rank %d)",
        config.model,
        config.model_name,
        engine.device,
        config.resident_adapters,
        config.max_lora_rank,
    )
    uvicorn.run(
        create_app(engine, embeddings),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
