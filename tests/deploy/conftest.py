"""Fixtures of the deploy tests: the rendered kustomize base, the example Secret, a clean env."""

from __future__ import annotations

import os

import pytest

from tests.deploy.kustomize import Manifest, load_manifests, render_kustomization
from tests.deploy.manifests import K8S, SECRET_EXAMPLE


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    """The kustomize base, rendered."""
    return render_kustomization(K8S)


@pytest.fixture(scope="module")
def secret_example() -> Manifest:
    """The example Secret (not part of the base)."""
    (secret,) = load_manifests(SECRET_EXAMPLE)
    return secret


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No FTAPI_* variable of the test process leaks into Settings()."""
    for name in list(os.environ):
        if name.startswith("FTAPI_"):
            monkeypatch.delenv(name)
    return monkeypatch
