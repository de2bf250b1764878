"""Adapters for serving tests: a structurally valid fake, and real peft adapters for the tiny
model whose greedy output differs from the base; publishing them the way the runner does; and
running an api with its engine and agent."""

from __future__ import annotations

import json
import secrets
import struct
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cli.keys import project_store
from service.auth.caller import Caller
from service.blobstore.directories import upload_directory
from service.blobstore.keys import adapter_prefix, checkpoint_prefix
from service.blobstore.protocol import BlobStore
from service.db.engine import create_engine, create_session_factory
from service.db.tables import CheckpointRow, JobRow
from service.models.fine_tuned import FineTunedModelRecord, FineTunedModelStore
from service.models.naming import fine_tuned_model_name
from service.models.parity_probes import MANIFEST_KEY as PROBES_MANIFEST_KEY
from service.settings import Settings
from service.wiring.resources import blob_store_from_settings
from tests.support.serving_processes import AgentProcess, EngineProcess
from tests.support.stack import ApiServer

TINY_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


def write_fake_adapter(directory: Path, *, rank: int = 8, seed: int = 0) -> Path:
    """An adapter ``validate_adapter`` accepts (config + a safetensors of lora_A/lora_B zeros)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": 16,
        "target_modules": ["q_proj"],
        "bias": "none",
        "base_model_name_or_path": "/trainer/scratch/base",
        "seed_for_tests": seed,
    }
    (directory / "adapter_config.json").write_text(json.dumps(config))
    tensors: dict[str, Any] = {}
    data = b""
    for name, shape in (
        ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", [rank, 64]),
        ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", [64, rank]),
    ):
        size = shape[0] * shape[1] * 4
        tensors[name] = {
            "dtype": "F32",
            "shape": shape,
            "data_offsets": [len(data), len(data) + size],
        }
        data += bytes([seed % 256]) * size
    header = json.dumps(tensors).encode()
    (directory / "adapter_model.safetensors").write_bytes(
        struct.pack("<Q", len(header)) + header + data
    )
    return directory


def write_tiny_lora(model_dir: Path, directory: Path, *, seed: int, std: float = 0.5) -> Path:
    """A real LoRA adapter for the tiny model with seeded random A and B, so it changes the
    model's greedy output (a fresh LoRA has B = 0 and changes nothing)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    base = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=list(TINY_TARGET_MODULES), bias="none")
    with warnings.catch_warnings():
        # peft 0.21 still reads transformers 5's deprecated `is_gradient_checkpointing`.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        model = get_peft_model(base, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
    model.save_pretrained(directory, safe_serialization=True)
    for extra in directory.iterdir():
        if extra.name not in {"adapter_config.json", "adapter_model.safetensors"}:
            extra.unlink()  # peft writes a README.md; a served adapter holds only the two files
    return directory


async def publish_adapter(
    blobs: BlobStore,
    prefix: str,
    adapter_dir: Path,
    *,
    model: str,
    base_model: str,
    job_id: str,
    parity_probes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Upload an adapter as the runner publishes one (files, then ``manifest.json``, with the
    parity probes training recorded, if given)."""
    extra: dict[str, Any] = {"model": model, "base_model": base_model, "job_id": job_id}
    if parity_probes is not None:
        extra[PROBES_MANIFEST_KEY] = parity_probes
    return await upload_directory(blobs, prefix, adapter_dir, extra=extra)


async def publish_fine_tuned_model(
    settings: Settings, key: str, adapter_dir: Path, *, base_model: str, suffix: str
) -> str:
    """Publish ``adapter_dir`` for ``key``'s project as a job's success does (the blob
    directory with its manifest, then the model row); returns the ``ft:`` name."""
    caller = await caller_of_key(settings, key)
    job_id = "ftjob-" + secrets.token_hex(12)
    name = fine_tuned_model_name(base_model, caller.organization_slug, suffix, job_id)
    prefix = adapter_prefix(caller.project_id, job_id, 1)
    blobs = blob_store_from_settings(settings)
    engine = create_engine(settings.database_url)
    try:
        await publish_adapter(
            blobs, prefix, adapter_dir, model=name, base_model=base_model, job_id=job_id
        )
        inserted = await FineTunedModelStore(create_session_factory(engine)).insert(
            FineTunedModelRecord(
                id=name,
                project_id=caller.project_id,
                organization_id=caller.organization_id,
                job_id=job_id,
                base_model=base_model,
                blob_prefix=prefix,
                created_at=int(time.time()),
            )
        )
    finally:
        await blobs.close()
        await engine.dispose()
    assert inserted
    return name


async def caller_of_key(settings: Settings, key: str) -> Caller:
    """The project and organization ``key`` authenticates as."""
    async with project_store(settings) as store:
        caller = await store.authenticate(key, last_used_resolution_s=0)
    assert caller is not None, "the key does not authenticate"
    return caller


async def insert_job_with_checkpoints(
    session: AsyncSession,
    caller: Caller,
    job_id: str,
    *,
    base_model: str,
    checkpoints: dict[int, str],
    status: str = "succeeded",
    seed: int = 1,
    created_s: int = 1_700_000_000,
) -> None:
    """A job row of ``caller``'s project and its checkpoint rows (step → checkpoint model name),
    as its first attempt leaves them; each checkpoint a second newer than the one before."""
    await session.execute(
        insert(JobRow).values(
            id=job_id,
            project_id=caller.project_id,
            organization_id=caller.organization_id,
            model=base_model,
            training_file="file-x",
            seed=seed,
            method_json="{}",
            hyperparameters_json="{}",
            status=status,
            attempt=1,
            result_files_json="[]",
            created_at=created_s,
            created_us=created_s * 1_000_000,
        )
    )
    for offset, (step, name) in enumerate(checkpoints.items(), start=1):
        await session.execute(
            insert(CheckpointRow).values(
                id="ftckpt_" + secrets.token_hex(8),
                job_id=job_id,
                project_id=caller.project_id,
                created_at=created_s + offset,
                created_us=(created_s + offset) * 1_000_000,
                step_number=step,
                metrics_json="{}",
                fine_tuned_model_checkpoint=name,
                blob_prefix=checkpoint_prefix(caller.project_id, job_id, 1, step),
            )
        )


@contextmanager
def serving_running(api: ApiServer, engine: EngineProcess, agent: AgentProcess) -> Iterator[None]:
    """Engine and agent started first (the engine loads the model meanwhile), then the api;
    returns once all three answer, and stops them in reverse order."""
    engine.start()
    agent.start()
    try:
        api.start()
        agent.wait()
        engine.wait()
        yield
    finally:
        api.stop()
        agent.stop()
        engine.stop()
