"""Queries over rendered Kubernetes manifests, shared by the tests of deploy/k8s."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.deploy.kustomize import Manifest, containers_of, pod_spec_of

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
SECRET_NAME_IN_CLUSTER = "ftapi-secrets"
FTAPI_IMAGES = ("ftapi-api", "ftapi-runner")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
# (Deployment, container) of every ftapi process that calls the adapter agents: the api serves
# chat completions through them, the ctl worker samples and grades eval runs through them.
AGENT_CLIENTS = (("ftapi-api", "api"), ("ftapi-ctl-worker", "ctl-worker"))
LONG_RUNNING_KINDS = ("Deployment", "StatefulSet")
_QUANTITY = re.compile(r"(?P<number>\d+)(?P<unit>Ki|Mi|Gi|Ti)?")
_UNIT_BYTES = {None: 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def named(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    """The manifests of one kind, by name."""
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def workloads(manifests: list[Manifest], kinds: tuple[str, ...] = WORKLOAD_KINDS) -> list[Manifest]:
    """Deployments, StatefulSets and Jobs."""
    return [m for m in manifests if m["kind"] in kinds]


def pod(manifest: Manifest) -> dict[str, Any]:
    """The pod spec of a workload."""
    spec = pod_spec_of(manifest)
    assert spec is not None, manifest["kind"]
    return spec


def container(manifest: Manifest, name: str) -> dict[str, Any]:
    """One container of a workload, by name."""
    (found,) = [c for c in containers_of(manifest) if c["name"] == name]
    return found


def template_labels(manifest: Manifest) -> dict[str, str]:
    """The pod template's labels of a workload."""
    labels: dict[str, str] = manifest["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels selector selects pods with ``labels``."""
    return all(labels.get(key) == value for key, value in selector.items())


def env_of(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A container's env entries by name."""
    return {entry["name"]: entry for entry in item.get("env", [])}


def secret_key(entry: dict[str, Any]) -> str:
    """The ftapi-secrets key an env entry reads."""
    reference = entry["valueFrom"]["secretKeyRef"]
    assert reference["name"] == SECRET_NAME_IN_CLUSTER
    key: str = reference["key"]
    return key


def env_sources(manifests: list[Manifest], item: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Where each of a container's variables comes from (``env`` over ``envFrom``, as Kubernetes).

    ``("value", text)`` for a ConfigMap entry or a literal, ``("secret", key)`` for a key of
    ftapi-secrets.
    """
    config_maps = named(manifests, "ConfigMap")
    sources = {
        name: ("value", value)
        for source in item.get("envFrom", [])
        for name, value in config_maps[source["configMapRef"]["name"]]["data"].items()
    }
    for name, entry in env_of(item).items():
        if "valueFrom" in entry:
            sources[name] = ("secret", secret_key(entry))
        else:
            sources[name] = ("value", entry["value"])
    return sources


def container_environment(
    manifests: list[Manifest], item: dict[str, Any], secrets: dict[str, str]
) -> dict[str, str]:
    """A container's environment, ConfigMap and ``secrets`` (key -> value) references resolved."""
    return {
        name: secrets[origin] if kind == "secret" else origin
        for name, (kind, origin) in env_sources(manifests, item).items()
    }


def quantity_bytes(quantity: str) -> int:
    """A binary Kubernetes quantity (``50Gi``) in bytes."""
    match = _QUANTITY.fullmatch(quantity)
    assert match, quantity
    return int(match["number"]) * _UNIT_BYTES[match["unit"]]
