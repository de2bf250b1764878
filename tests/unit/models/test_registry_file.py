"""Editing the registry file: what ``ftapi models add`` appends and ``put_model`` replaces reads
back."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.models import (
    RegistryEditError,
    add_model,
    check_model_dir,
    put_model,
    registry_entry,
    toml_string,
)
from service.models.registry import BaseModelSpec, ModelRegistry


def model_dir(
    root: Path, name: str, files: tuple[str, ...] = ("config.json", "tokenizer.json")
) -> Path:
    """A directory holding (empty) ``files``; the registry only checks they exist."""
    path = root / name
    path.mkdir()
    for file in files:
        (path / file).write_text("{}")
    return path


@given(st.text())
def test_toml_string_round_trips_any_text(value: str) -> None:
    assert tomllib.loads(f"v = {toml_string(value)}")["v"] == value


def test_entry_reads_back_as_the_same_spec(tmp_path: Path) -> None:
    spec = BaseModelSpec(
        id="org/model-1",
        path=model_dir(tmp_path, "m"),
        max_seq_length=1024,
        chat_template='{% for m in messages %}"{{ m.content }}"\n{% endfor %}',
        lora_target_modules=("q_proj", "v_proj"),
        max_lora_rank=16,
        learning_rate=2e-3,
        reference_set=tmp_path / "reference.jsonl",
        created=1_700_000_000,
    )
    registry_path = tmp_path / "models.toml"
    registry_path.write_text(registry_entry(spec))

    assert ModelRegistry.from_file(registry_path).models == (spec,)


def test_per_model_defaults_read_relative_to_the_file(tmp_path: Path) -> None:
    registry_path = tmp_path / "models.toml"
    registry_path.write_text(
        '[[models]]\nid = "org/m"\npath = "m"\nlearning_rate = 2e-3\n'
        'reference_set = "sets/ref.jsonl"\n'
    )

    spec = ModelRegistry.from_file(registry_path).models[0]

    assert spec.learning_rate == 2e-3
    assert spec.reference_set == tmp_path / "sets" / "ref.jsonl"
    with pytest.raises(ValueError, match="learning_rate"):
        BaseModelSpec(id="org/m", path=tmp_path, learning_rate=3.0)


def test_add_creates_the_file_then_appends_keeping_what_was_there(tmp_path: Path) -> None:
    registry_path = tmp_path / "conf" / "models.toml"
    first = BaseModelSpec(id="org/first", path=model_dir(tmp_path, "first"))
    second = BaseModelSpec(id="org/second", path=model_dir(tmp_path, "second"))

    add_model(registry_path, first)
    registry_path.write_text("# operator's note\n" + registry_path.read_text().rstrip("\n"))
    add_model(registry_path, second)

    assert ModelRegistry.from_file(registry_path).models == (first, second)
    assert registry_path.read_text().startswith("# operator's note\n")
    assert [p.name for p in registry_path.parent.iterdir()] == ["models.toml"]  # no temp left


def test_add_refuses_a_duplicate_id_and_leaves_the_file_alone(tmp_path: Path) -> None:
    registry_path = tmp_path / "models.toml"
    add_model(registry_path, BaseModelSpec(id="org/m", path=model_dir(tmp_path, "a")))
    before = registry_path.read_text()

    with pytest.raises(RegistryEditError, match="already lists a model with id 'org/m'"):
        add_model(registry_path, BaseModelSpec(id="org/m", path=model_dir(tmp_path, "b")))

    assert registry_path.read_text() == before


def test_add_refuses_a_broken_registry_file(tmp_path: Path) -> None:
    registry_path = tmp_path / "models.toml"
    registry_path.write_text("[[models]\n")

    with pytest.raises(RegistryEditError, match="not a valid registry"):
        add_model(registry_path, BaseModelSpec(id="org/m", path=model_dir(tmp_path, "a")))

    assert registry_path.read_text() == "[[models]\n"


@pytest.mark.parametrize(
    ("files", "missing"),
    [(("config.json",), "tokenizer.json"), (("tokenizer.json",), "config.json")],
)
def test_model_dir_must_hold_config_and_tokenizer(
    tmp_path: Path, files: tuple[str, ...], missing: str
) -> None:
    with pytest.raises(RegistryEditError, match=f"lacks {missing}"):
        check_model_dir(model_dir(tmp_path, "m", files))


def test_model_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(RegistryEditError, match="is not a directory"):
        check_model_dir(tmp_path / "nowhere")


def test_put_model_replaces_an_entry_in_place_and_keeps_the_others(tmp_path: Path) -> None:
    registry_path = tmp_path / "models.toml"
    hub = BaseModelSpec(id="org/hub", hub_id="org/hub-model", revision="a" * 40)
    stale = BaseModelSpec(id="org/demo", path=model_dir(tmp_path, "demo"))  # no per-model defaults
    registry_path.write_text(registry_entry(hub) + "\n" + registry_entry(stale))
    current = BaseModelSpec(
        id="org/demo",
        path=stale.path,
        learning_rate=2e-3,
        reference_set=tmp_path / "demo" / "reference.jsonl",
    )

    assert put_model(registry_path, current)
    assert ModelRegistry.from_file(registry_path).models == (hub, current)
    written = registry_path.read_bytes()
    assert not put_model(registry_path, current)  # already so: the file is left alone
    assert registry_path.read_bytes() == written

    added = BaseModelSpec(id="org/other", path=model_dir(tmp_path, "other"))
    assert put_model(tmp_path / "fresh" / "models.toml", added)
    assert ModelRegistry.from_file(tmp_path / "fresh" / "models.toml").models == (added,)
