"""The demo base this package ships (``model/``), and installing it where ``ftapi dev`` serves it.

The files travel as package data, so ``pip install`` carries them and nothing is downloaded.
``install`` copies them into the data dir on first start, and again whenever the shipped manifest
changes (an upgrade), so a data dir never keeps serving an older demo base.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from gpu_runner.demo_base.build import MANIFEST_NAME, REFERENCE_SET_NAME

SHIPPED_DIR = Path(__file__).parent / "model"


def install(target: Path) -> Path:
    """``target`` holding the shipped demo base (copied unless it already is); returns it."""
    shipped_manifest = (SHIPPED_DIR / MANIFEST_NAME).read_bytes()
    installed_manifest = target / MANIFEST_NAME
    if installed_manifest.is_file() and installed_manifest.read_bytes() == shipped_manifest:
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(SHIPPED_DIR, staging)
    shutil.rmtree(target, ignore_errors=True)  # an older demo base, random or pretrained
    staging.rename(target)
    return target


def reference_set_path(model_dir: Path) -> Path:
    """The reference set inside a demo base directory."""
    return model_dir / REFERENCE_SET_NAME
