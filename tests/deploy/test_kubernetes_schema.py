"""deploy/k8s rendered as kustomize does, and checked against the Kubernetes JSON schemas."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.deploy.kustomize import Manifest
from tests.deploy.manifests import K8S

try:
    import kubernetes_validate  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:  # a dev-extra tool; the structural tests still run without it
    kubernetes_validate = None

# The oldest Kubernetes minor this base supports, and the newest kubernetes-validate bundles.
SCHEMA_VERSIONS = ("1.30", "1.37")
# Custom resources have no schema in kubernetes-validate (it bundles the built-in API only);
# test_kubernetes_serving.py::test_keda_scales_the_gpu_runners_on_the_gpu_queue asserts theirs.
CUSTOM_RESOURCE_GROUPS = ("keda.sh/",)
VALIDATOR_MISSING = (
    "kubernetes-validate is not installed: deploy/k8s is NOT checked against the Kubernetes "
    "JSON schemas (structural tests still run). Install it: pip install kubernetes-validate"
)
KUBECTL_MISSING = "kubectl is not installed: the rendering is not compared with kustomize's"


def test_the_base_has_every_part(manifests: list[Manifest]) -> None:
    kinds = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    assert kinds == {
        ("Namespace", "ftapi"),
        ("ServiceAccount", "ftapi"),
        ("ConfigMap", "ftapi-config"),
        ("ConfigMap", "ftapi-models"),
        ("PersistentVolumeClaim", "ftapi-models"),
        ("Job", "ftapi-migrate"),
        ("Deployment", "ftapi-api"),
        ("Service", "ftapi-api"),
        ("PodDisruptionBudget", "ftapi-api"),
        ("Deployment", "ftapi-ctl-worker"),
        ("Deployment", "ftapi-gpu-runner"),
        ("TriggerAuthentication", "ftapi-redis"),
        ("ScaledObject", "ftapi-gpu-runner"),
        ("StatefulSet", "ftapi-inference"),
        ("Service", "ftapi-inference"),
        ("NetworkPolicy", "ftapi-inference"),
    }
    for manifest in manifests:
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == "ftapi"
        assert manifest["metadata"]["labels"]["app.kubernetes.io/name"] == "ftapi"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason=KUBECTL_MISSING)
def test_the_rendering_matches_kubectl_kustomize(manifests: list[Manifest]) -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    by_kubectl = {(m["kind"], m["metadata"]["name"]): m for m in yaml.safe_load_all(rendered) if m}
    assert by_kubectl == {(m["kind"], m["metadata"]["name"]): m for m in manifests}


@pytest.mark.skipif(kubernetes_validate is None, reason=VALIDATOR_MISSING)
@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_manifests_match_the_kubernetes_schemas(
    manifests: list[Manifest], secret_example: Manifest, version: str
) -> None:
    errors = []
    checked = 0
    for manifest in [*manifests, secret_example]:
        if manifest["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS):
            continue
        try:
            # strict: unknown fields are errors too (a misspelt key is not silently dropped).
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            errors.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {path}: {error}")
        checked += 1
    assert not errors, "\n".join(errors)
    assert checked == len(manifests) - 1  # everything but the two KEDA resources, plus the Secret
