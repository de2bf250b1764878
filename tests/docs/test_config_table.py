"""The README's configuration table is generated from ``Settings`` and must not drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings

from service.settings import Settings, StorageBackend
from service.settings_doc import (
    END_MARKER,
    START_MARKER,
    render_config_table,
    replace_config_table,
    setting_rows,
)
from tests.docs.readme_blocks import README

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_readme_table_matches_settings() -> None:
    current = README.read_text()
    assert replace_config_table(current, render_config_table()) == current, (
        "README.md's configuration table is stale: run `ftapi config-doc --output README.md`"
    )


def test_every_setting_has_a_row_named_by_its_environment_variable() -> None:
    variables = {row.env_var for row in setting_rows()}
    assert "FTAPI_DATA_DIR" in variables
    assert "FTAPI_DATABASE__URL" in variables
    assert "FTAPI_STORAGE__S3_SECRET_ACCESS_KEY" in variables
    groups = [
        name
        for name, f in Settings.model_fields.items()
        if f.annotation is not None
        and isinstance(f.annotation, type)
        and issubclass(f.annotation, BaseModel)
    ]
    for group in groups:
        assert any(v.startswith(f"FTAPI_{group.upper()}__") for v in variables), group


class _Inner(BaseModel):
    backend: StorageBackend = StorageBackend.LOCAL
    secret: SecretStr | None = Field(default=None, description="Key | secret, <never> logged.")
    part_bytes: int = Field(default=64 * 1024 * 1024, ge=5)
    urls: list[str] = Field(default_factory=lambda: ["http://a"])


class _Sample(BaseSettings):
    flag: bool = Field(default=True, description="On.")
    inner: _Inner = _Inner()


def test_rows_render_types_bounds_defaults_and_escape_cells() -> None:
    table = render_config_table(_Sample)
    assert table.splitlines()[2:] == [
        "| `FTAPI_FLAG` | bool | `true` | On. |",
        "| `FTAPI_INNER__BACKEND` | `local` \\| `s3` | `local` |  |",
        "| `FTAPI_INNER__SECRET` | secret \\| None | unset | Key \\| secret, &lt;never> logged. |",
        "| `FTAPI_INNER__PART_BYTES` | int (≥ 5) | `67108864` (64 MiB) |  |",
        '| `FTAPI_INNER__URLS` | list[str] | `["http://a"]` |  |',
    ]


def test_replacing_needs_both_markers() -> None:
    doc = f"intro\n{START_MARKER}\nold\n{END_MARKER}\noutro\n"
    assert (
        replace_config_table(doc, "new\n") == f"intro\n{START_MARKER}\nnew\n{END_MARKER}\noutro\n"
    )
    with pytest.raises(ValueError, match="config-table"):
        replace_config_table("no markers", "new\n")


def test_check_command_names_the_fix(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    stale.write_text(f"{START_MARKER}\n| old |\n{END_MARKER}\n")
    command = [sys.executable, "-m", "cli", "config-doc", "--output", str(stale)]
    checked = subprocess.run([*command, "--check"], capture_output=True, text=True, check=False)
    assert checked.returncode == 1
    assert f"run `ftapi config-doc --output {stale}`" in checked.stderr
    subprocess.run(command, check=True, capture_output=True, cwd=REPO_ROOT)
    assert subprocess.run([*command, "--check"], capture_output=True, check=False).returncode == 0
