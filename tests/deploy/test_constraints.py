"""deploy/constraints.txt (the images' exact versions) agrees with pyproject.toml's ranges."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "regenerate it: .venv/bin/python deploy/lock_constraints.py"


@pytest.fixture(scope="module")
def pins() -> dict[str, Version]:
    """Canonical name to pinned version."""
    found: dict[str, Version] = {}
    text = (REPO_ROOT / "deploy" / "constraints.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{line}: exact pins only"
        version = Version(specifier.version)
        assert version.local is None, f"{line}: no local label (the CUDA build must match)"
        name = canonicalize_name(requirement.name)
        assert name not in found, f"{name} pinned twice"
        found[name] = version
    return found


def runtime_requirements() -> list[Requirement]:
    """pyproject's base dependencies and the runner extra (what the images install)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["runner"]]
    return [Requirement(line) for line in lines]


def test_every_runtime_dependency_is_pinned_within_its_range(pins: dict[str, Version]) -> None:
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned; {REGENERATE}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} is outside pyproject's {requirement.specifier}; {REGENERATE}"
        )


def test_the_project_itself_is_not_pinned(pins: dict[str, Version]) -> None:
    assert "ftapi" not in pins, "the images install the wheel they just built"
