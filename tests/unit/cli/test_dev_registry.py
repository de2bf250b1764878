"""``ftapi dev``'s registry: a data dir made by an older version gets this version's demo entry."""

from __future__ import annotations

from pathlib import Path

from cli.dev import DEMO_MODEL_ID, demo_registry
from cli.models import registry_entry
from gpu_runner.demo_base.build import DEMO_LEARNING_RATE, REFERENCE_SET_NAME
from service.models.registry import BaseModelSpec, ModelRegistry


def test_an_older_data_dirs_demo_entry_gains_the_per_model_defaults(tmp_path: Path) -> None:
    data_dir = tmp_path / ".ftapi"
    model_dir = (data_dir / "models" / "demo-tiny").resolve()
    stale = BaseModelSpec(id=DEMO_MODEL_ID, path=model_dir, max_seq_length=256)
    own = BaseModelSpec(id="org/added-by-hand", hub_id="org/m", revision="b" * 40)
    data_dir.mkdir()
    (data_dir / "models.toml").write_text(registry_entry(stale) + "\n" + registry_entry(own))

    registry = ModelRegistry.from_file(demo_registry(data_dir))

    demo = registry.get(DEMO_MODEL_ID)
    assert demo is not None
    assert demo.learning_rate == DEMO_LEARNING_RATE
    assert demo.reference_set == model_dir / REFERENCE_SET_NAME
    assert demo.reference_set.is_file()  # the shipped base was installed beside it
    assert registry.get(own.id) == own
