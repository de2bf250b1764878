"""The demo base the package ships is what ``python -m gpu_runner.demo_base pretrain`` builds.

Pretraining takes minutes, so the suite does not repeat it: the shipped files must match their
manifest, the manifest's config must be the script's defaults, everything but the weights must be
what the script writes, and the script must run end to end on a two-step budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_runner.demo_base.__main__ import main
from gpu_runner.demo_base.build import (
    MANIFEST_NAME,
    REFERENCE_SET_NAME,
    file_hashes,
    read_manifest,
    write_reference_set,
)
from gpu_runner.demo_base.pretrain import PretrainConfig, config_record, load
from gpu_runner.demo_base.shipped import SHIPPED_DIR, install

# Written by the script; identical whatever the training did.
DETERMINED_FILES = ("config.json", "generation_config.json", "tokenizer.json",
                    "tokenizer_config.json", "chat_template.jinja", REFERENCE_SET_NAME)  # fmt: skip


@pytest.fixture(scope="module")
def two_step_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pretraining script's output with a two-step budget."""
    out_dir = tmp_path_factory.mktemp("demo") / "base"
    assert main(["pretrain", "--out", str(out_dir), "--steps", "2"]) == 0
    return out_dir


def test_the_shipped_files_are_the_ones_the_manifest_pins() -> None:
    manifest = read_manifest(SHIPPED_DIR)

    assert file_hashes(SHIPPED_DIR) == manifest.files
    assert manifest.config == config_record(PretrainConfig())  # the defaults rebuild it
    assert set(DETERMINED_FILES) | {"model.safetensors"} <= set(manifest.files)


def test_the_script_writes_the_shipped_config_tokenizer_and_reference_set(
    two_step_build: Path,
) -> None:
    for name in DETERMINED_FILES:
        assert (two_step_build / name).read_bytes() == (SHIPPED_DIR / name).read_bytes(), name
    manifest = json.loads((two_step_build / MANIFEST_NAME).read_text())
    assert manifest["config"]["steps"] == 2
    assert manifest["parameters"] == read_manifest(SHIPPED_DIR).parameters
    model, tokenizer = load(two_step_build)
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.tokenize("12+34=") == ["1", "2", "+", "3", "4", "="]  # one token a character


def test_the_reference_set_is_the_generators(tmp_path: Path) -> None:
    write_reference_set(tmp_path / "ref.jsonl")

    assert (tmp_path / "ref.jsonl").read_bytes() == (SHIPPED_DIR / REFERENCE_SET_NAME).read_bytes()


def test_install_copies_once_and_replaces_an_older_base(tmp_path: Path) -> None:
    target = tmp_path / "models" / "demo-tiny"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # a random demo base of an older ftapi

    install(target)
    first_copy = (target / "model.safetensors").stat().st_mtime_ns
    install(target)

    assert file_hashes(target) == read_manifest(SHIPPED_DIR).files
    assert (target / "model.safetensors").stat().st_mtime_ns == first_copy
