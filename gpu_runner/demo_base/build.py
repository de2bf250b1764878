"""Build the demo base directory: pretrain, then add its reference set and a manifest.

The manifest pins what was built: the pretraining config, the parameter count, the final loss,
the wall time, and the SHA-256 of every file, so a test can tell the shipped files from anything
else without pretraining again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from gpu_runner.demo_base.corpus import reference_set
from gpu_runner.demo_base.pretrain import PretrainConfig, config_record, pretrain

MANIFEST_NAME = "manifest.json"
REFERENCE_SET_NAME = "reference.jsonl"
REFERENCE_SET_SIZE = 50
REFERENCE_SET_SEED = 1000  # any seed: held-out prompts never reach the pretraining stream
# The base learning rate `auto` jobs on the demo base train with (its registry entry's).
DEMO_LEARNING_RATE = 4e-3


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` records about a built demo base."""

    config: dict[str, object]
    parameters: int
    final_loss: float
    pretrain_wall_s: float
    files: dict[str, str]  # file name -> sha256 hex


def build(out_dir: Path, config: PretrainConfig) -> Manifest:
    """Pretrain into ``out_dir``, write the reference set, and write and return the manifest."""
    result = pretrain(out_dir, config)
    write_reference_set(out_dir / REFERENCE_SET_NAME)
    manifest = Manifest(
        config=config_record(config),
        parameters=result.parameters,
        final_loss=round(result.final_loss, 4),
        pretrain_wall_s=round(result.wall_s, 1),
        files=file_hashes(out_dir),
    )
    (out_dir / MANIFEST_NAME).write_text(
        json.dumps(manifest.__dict__, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return manifest


def write_reference_set(path: Path) -> None:
    """The held-out chat examples of the pretraining skills, one JSON object a line."""
    lines = [
        json.dumps({"messages": example.messages(), "skill": example.skill})
        for example in reference_set(REFERENCE_SET_SEED, REFERENCE_SET_SIZE)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def file_hashes(model_dir: Path) -> dict[str, str]:
    """SHA-256 of every file in ``model_dir`` but the manifest, by name."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(model_dir.iterdir())
        if path.is_file() and path.name != MANIFEST_NAME
    }


def read_manifest(model_dir: Path) -> Manifest:
    """The manifest of a built demo base."""
    raw = json.loads((model_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    return Manifest(**raw)
