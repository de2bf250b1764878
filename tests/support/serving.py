"""Adapters for serving tests: a structurally valid fake, and real peft adapters for the tiny
model whose greedy output differs from the base; publishing them the way the runner does."""

from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path
from typing import Any

from service.blobstore.directories import upload_directory
from service.blobstore.protocol import BlobStore

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
    blobs: BlobStore, prefix: str, adapter_dir: Path, *, model: str, base_model: str, job_id: str
) -> dict[str, Any]:
    """Upload an adapter as the runner publishes one (files, then ``manifest.json``)."""
    return await upload_directory(
        blobs,
        prefix,
        adapter_dir,
        extra={"model": model, "base_model": base_model, "job_id": job_id},
    )
