"""requirements.lock is the one lock: it covers pyproject.toml, and the environment the suite runs
in (what scripts/bootstrap installed) is exactly the lock."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = REPO_ROOT / "requirements.lock"
RELOCK = "re-resolve it: scripts/lock"
REBOOTSTRAP = (
    "reinstall from the lock: rm -rf .venv && scripts/bootstrap runner,dev,otel,embeddings"
)
# The issue that introduced the lock names these: a drift in any of them broke CI once.
KEY_PACKAGES = ("transformers", "peft", "torch", "litestar", "arq", "openai")
# Installed in the venv but not by the lock: the project itself (editable).
NOT_LOCKED = frozenset({"ftapi"})


@dataclass(frozen=True)
class Pin:
    version: Version
    marker: Marker | None

    def applies(self) -> bool:
        """Whether this pin is for the running interpreter and platform."""
        return self.marker is None or self.marker.evaluate()


def read_lock(text: str) -> dict[NormalizedName, list[Pin]]:
    """Canonical name to its pins (a universal lock may pin one name per marker)."""
    pins: dict[NormalizedName, list[Pin]] = {}
    for line in text.splitlines():
        if not line or line[0] in "# ":
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{line}: exact pins only"
        version = Version(specifier.version)
        assert version.local is None, f"{line}: no local label (CPU and CUDA builds both match)"
        pins.setdefault(canonicalize_name(requirement.name), []).append(
            Pin(version, requirement.marker)
        )
    return pins


@pytest.fixture(scope="module")
def lock() -> dict[NormalizedName, Version]:
    """The pins that apply here, by canonical name."""
    applying: dict[NormalizedName, Version] = {}
    for name, pins in read_lock(LOCK.read_text(encoding="utf-8")).items():
        versions = {pin.version for pin in pins if pin.applies()}
        assert len(versions) <= 1, f"{name}: several pins apply here: {versions}"
        if versions:
            applying[name] = versions.pop()
    return applying


def project_requirements() -> list[Requirement]:
    """pyproject's dependencies and every extra's."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines.extend(extra)
    return [Requirement(line) for line in lines]


def installed() -> dict[NormalizedName, Version]:
    """What this interpreter's environment holds, by canonical name."""
    return {
        canonicalize_name(dist.metadata["Name"]): Version(dist.version)
        for dist in metadata.distributions()
    }


def test_every_requirement_is_locked_within_its_range(
    lock: dict[NormalizedName, Version],
) -> None:
    for requirement in project_requirements():
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} is not in requirements.lock; {RELOCK}"
        assert requirement.specifier.contains(lock[name], prereleases=True), (
            f"{name}=={lock[name]} is outside pyproject's {requirement.specifier}; {RELOCK}"
        )


def test_the_project_itself_is_not_locked(lock: dict[NormalizedName, Version]) -> None:
    assert "ftapi" not in lock, "every install builds or links the project itself"


@pytest.mark.parametrize("name", KEY_PACKAGES)
def test_the_environment_holds_the_locked_version_of(
    name: str, lock: dict[NormalizedName, Version]
) -> None:
    here = installed()
    key = canonicalize_name(name)
    assert key in here, f"{name} is not installed; {REBOOTSTRAP}"
    # Public versions: the lock's torch==2.13.0 is this machine's 2.13.0+cpu.
    assert here[key].public == str(lock[key]), (
        f"{name} {here[key]} is installed but the lock says {lock[key]}; {REBOOTSTRAP}"
    )


def test_every_installed_package_is_the_locked_version(
    lock: dict[NormalizedName, Version],
) -> None:
    here = installed()
    unlocked = sorted(set(here) - set(lock) - NOT_LOCKED)
    assert not unlocked, f"installed but not locked: {unlocked}; {REBOOTSTRAP}"
    moved = {
        name: f"{version} (lock: {lock[name]})"
        for name, version in here.items()
        if name in lock and version.public != str(lock[name])
    }
    assert not moved, f"installed versions differ from the lock: {moved}; {REBOOTSTRAP}"


def test_the_lock_is_written_by_scripts_lock() -> None:
    header = LOCK.read_text(encoding="utf-8").splitlines()[:2]
    assert header[1].strip("# ") == "scripts/lock", f"hand-edited lock? {RELOCK}"


def pip_install_lines(text: str) -> list[str]:
    """Every line that runs ``pip install`` (continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line for line in joined.splitlines() if re.search(r"\bpip\s+install\b", line)]


@pytest.mark.parametrize(
    "path", ["scripts/bootstrap", "Dockerfile", "README.md", "deploy/README.md"]
)
def test_every_pip_install_is_constrained_by_the_lock(path: str) -> None:
    text = (REPO_ROOT / path).read_text(encoding="utf-8")
    for line in pip_install_lines(text):
        if line.lstrip().startswith("#"):
            continue
        assert re.search(r"(--constraint|-c)\s+\S*requirements\.lock", line), (
            f"{path}: an install the lock does not pin: {line}"
        )
