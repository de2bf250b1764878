"""``ftapi registry add|list`` and ``ftapi models add`` as an operator runs them (subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.models.registry import ModelRegistry
from tests.support.tiny_model import TinyModels

FTAPI = str(Path(sys.executable).parent / "ftapi")


def ftapi(registry_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``ftapi`` with the registry setting pointing at ``registry_path``."""
    env = os.environ | {"FTAPI_MODELS__REGISTRY_PATH": str(registry_path)}
    return subprocess.run(
        [FTAPI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    """Where the registry file goes (not created yet)."""
    return tmp_path / "registry" / "models.toml"


def test_add_writes_an_entry_that_reads_back_and_lists(
    registry_path: Path, tiny_models: TinyModels, tmp_path: Path
) -> None:
    model_dir = tiny_models.model_dir("chatml")
    template = tmp_path / "template.jinja"
    template.write_text("{% for m in messages %}{{ m.content }}\n{% endfor %}")

    added = ftapi(
        registry_path,
        "models", "add",
        "--id", "ftapi/tiny-chatml",
        "--path", str(model_dir),
        "--max-seq-length", "256",
        "--lora-target-modules", "q_proj, v_proj",
        "--max-lora-rank", "16",
        "--chat-template-file", str(template),
    )  # fmt: skip
    listed = ftapi(registry_path, "registry", "list")

    assert added.returncode == 0, added.stderr
    [spec] = ModelRegistry.from_file(registry_path).models
    assert (spec.id, spec.path, spec.max_seq_length, spec.max_lora_rank) == (
        "ftapi/tiny-chatml",
        model_dir.resolve(),
        256,
        16,
    )
    assert spec.lora_target_modules == ("q_proj", "v_proj")
    assert spec.chat_template == template.read_text()
    assert spec.created > 0
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith(f"ftapi/tiny-chatml\t{model_dir.resolve()}\t")


def test_add_refuses_a_duplicate_id(registry_path: Path, tiny_models: TinyModels) -> None:
    model_dir = str(tiny_models.model_dir("chatml"))
    assert (
        ftapi(registry_path, "registry", "add", "--id", "m/one", "--path", model_dir).returncode
        == 0
    )
    before = registry_path.read_text()

    again = ftapi(registry_path, "models", "add", "--id", "m/one", "--path", model_dir)

    assert again.returncode == 1
    assert "already lists a model with id 'm/one'" in again.stderr
    assert registry_path.read_text() == before


def test_add_refuses_a_directory_without_tokenizer_files(
    registry_path: Path, tmp_path: Path
) -> None:
    weights_only = tmp_path / "weights-only"
    weights_only.mkdir()
    (weights_only / "config.json").write_text("{}")

    refused = ftapi(registry_path, "models", "add", "--id", "m/x", "--path", str(weights_only))

    assert refused.returncode == 1
    assert "lacks tokenizer.json" in refused.stderr
    assert not registry_path.exists()


def test_add_refuses_an_invalid_entry(registry_path: Path, tiny_models: TinyModels) -> None:
    model_dir = str(tiny_models.model_dir("chatml"))

    refused = ftapi(
        registry_path, "models", "add", "--id", "m/x", "--path", model_dir, "--max-lora-rank", "7"
    )

    assert refused.returncode == 1
    assert "max_lora_rank must be one of" in refused.stderr
    assert not registry_path.exists()
