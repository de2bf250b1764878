"""``ftapi agent``: the adapter agent beside one inference engine replica (internal only)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from service.settings import Settings

AGENT_API_KEY_ENV = "FTAPI_AGENT_API_KEY"
ENGINE_API_KEY_ENV = "FTAPI_ENGINE_API_KEY"


def agent(
    engine_url: Annotated[str, typer.Option(help="The engine's base URL (vLLM or ftapi engine).")],
    cache_dir: Annotated[Path, typer.Option(help="Adapter cache directory (node-local disk).")],
    max_cpu_loras: Annotated[
        int, typer.Option(min=1, help="Most adapters loaded at once: the engine's --max-cpu-loras.")
    ],
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8100,
    host: Annotated[str, typer.Option(help="Interface to bind (keep it private).")] = "127.0.0.1",
    cache_max_bytes: Annotated[
        int, typer.Option(min=1, help="Disk budget of the cache; several times the loaded set.")
    ] = 20 * 1024**3,
    max_lora_rank: Annotated[
        int, typer.Option(help="Refuse adapters above this rank (the engine's --max-lora-rank).")
    ] = 512,
    slot_wait_s: Annotated[
        float, typer.Option(help="How long a load waits for an idle slot before answering 503.")
    ] = 5.0,
    resync_interval_s: Annotated[
        float, typer.Option(help="How often the view is checked against GET /v1/models.")
    ] = 30.0,
    parity_logprob_atol: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Parity check: how far (nats) the engine's logprobs of the trained model's "
            "probe tokens may be from the recorded ones (0.1 covers bf16; fp32 agrees to 1e-5).",
        ),
    ] = 0.1,
) -> None:
    """Serve the OpenAI inference routes to the api, loading adapters into the engine on demand.

    The blob store comes from the usual FTAPI_STORAGE__* / FTAPI_DATA_DIR settings. Keys come
    from the environment: FTAPI_AGENT_API_KEY (what the api must present) and
    FTAPI_ENGINE_API_KEY (the engine's --api-key).
    """
    import uvicorn

    from service.logs import configure_logging
    from service.serving.agent.app import AgentConfig, create_agent_app
    from service.wiring.resources import blob_store_from_settings

    settings = Settings()
    configure_logging(settings.log_level)
    config = AgentConfig(
        engine_url=engine_url,
        cache_dir=cache_dir,
        max_cpu_loras=max_cpu_loras,
        cache_max_bytes=cache_max_bytes,
        max_lora_rank=max_lora_rank,
        api_key=os.environ.get(AGENT_API_KEY_ENV) or None,
        engine_api_key=os.environ.get(ENGINE_API_KEY_ENV) or None,
        slot_wait_s=slot_wait_s,
        resync_interval_s=resync_interval_s,
        parity_logprob_atol=parity_logprob_atol,
    )
    app = create_agent_app(config, blob_store_from_settings(settings))
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
