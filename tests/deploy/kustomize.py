"""Render our kustomize base in Python, for tests that must not need the kustomize binary.

Only what deploy/k8s/kustomization.yaml uses is supported (local resource files, ``namespace``,
``images``); any other field is refused, so the base cannot quietly outgrow this renderer.
When kubectl is installed, a test compares this rendering with ``kubectl kustomize``.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

SUPPORTED_FIELDS = frozenset({"apiVersion", "kind", "namespace", "resources", "images"})
CLUSTER_SCOPED_KINDS = frozenset({"Namespace", "PersistentVolume", "StorageClass"})
POD_SPEC_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
}


class UnsupportedKustomization(ValueError):
    """The kustomization uses a field this renderer does not implement."""


def load_manifests(path: Path) -> list[Manifest]:
    """Every non-empty YAML document in ``path``."""
    with path.open(encoding="utf-8") as handle:
        return [document for document in yaml.safe_load_all(handle) if document]


def render_kustomization(directory: Path) -> list[Manifest]:
    """The manifests ``kubectl kustomize directory`` would produce (in resource order)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    if unsupported:
        raise UnsupportedKustomization(f"fields not supported here: {sorted(unsupported)}")
    manifests: list[Manifest] = []
    for resource in kustomization.get("resources", []):
        resource_path = directory / resource
        if not resource_path.is_file():
            raise UnsupportedKustomization(f"resource {resource!r} is not a local file")
        manifests.extend(deepcopy(load_manifests(resource_path)))
    namespace = kustomization.get("namespace")
    images = {image["name"]: image for image in kustomization.get("images", [])}
    for manifest in manifests:
        if namespace and manifest["kind"] not in CLUSTER_SCOPED_KINDS:
            manifest["metadata"]["namespace"] = namespace
        for container in containers_of(manifest):
            container["image"] = _retagged(container["image"], images)
    return manifests


def pod_spec_of(manifest: Manifest) -> dict[str, Any] | None:
    """The pod spec inside a workload manifest, or None for other kinds."""
    path = POD_SPEC_PATHS.get(manifest["kind"])
    if path is None:
        return None
    spec: dict[str, Any] = manifest
    for key in path:
        spec = spec[key]
    return spec


def containers_of(manifest: Manifest) -> list[dict[str, Any]]:
    """The init and regular containers of a workload manifest (none for other kinds)."""
    spec = pod_spec_of(manifest)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec["containers"]]


def _retagged(image: str, images: dict[str, dict[str, str]]) -> str:
    name, tag = split_image(image)
    override = images.get(name)
    if override is None:
        return image
    return f"{override.get('newName', name)}:{override.get('newTag', tag)}"


def split_image(image: str) -> tuple[str, str]:
    """``registry/name:tag`` into name and tag ("" when the reference has no tag)."""
    name, _, digest = image.partition("@")
    last_colon = name.rfind(":")
    if last_colon > name.rfind("/"):
        return name[:last_colon], name[last_colon + 1 :] or digest
    return name, digest
