"""deploy/k8s workloads: hardening, probes, command lines, images, GPUs, the migration Job."""

from __future__ import annotations

import pytest

from tests.deploy.ftapi_cli import parse_ftapi_argv
from tests.deploy.kustomize import Manifest, containers_of, split_image
from tests.deploy.manifests import (
    FTAPI_IMAGES,
    LONG_RUNNING_KINDS,
    container,
    env_of,
    named,
    pod,
    selects,
    template_labels,
    workloads,
)


def test_workloads_are_hardened(manifests: list[Manifest]) -> None:
    service_accounts = named(manifests, "ServiceAccount")
    for manifest in workloads(manifests):
        spec = pod(manifest)
        where = manifest["metadata"]["name"]
        assert spec["serviceAccountName"] in service_accounts, where
        assert spec["automountServiceAccountToken"] is False, where
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True, where
        assert security["runAsUser"] > 0, where
        assert security["runAsGroup"] > 0, where
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for item in containers_of(manifest):
            assert item["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert item["securityContext"]["capabilities"] == {"drop": ["ALL"]}, where
            if split_image(item["image"])[0] in FTAPI_IMAGES:
                assert item["securityContext"]["readOnlyRootFilesystem"] is True, where
            assert {"cpu", "memory"} <= set(item["resources"]["requests"]), where
            assert "memory" in item["resources"]["limits"], where


def test_long_running_containers_have_probes(manifests: list[Manifest]) -> None:
    for manifest in workloads(manifests, LONG_RUNNING_KINDS):
        for item in containers_of(manifest):
            where = f"{manifest['metadata']['name']}/{item['name']}"
            assert "livenessProbe" in item, where
            assert "readinessProbe" in item, where


def test_the_api_probes_healthz_and_readyz(manifests: list[Manifest]) -> None:
    api = container(named(manifests, "Deployment")["ftapi-api"], "api")
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    assert ports["http"] == parse_ftapi_argv(api["args"])["port"]
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


@pytest.mark.parametrize(
    ("name", "queue"), [("ftapi-ctl-worker", "ctl"), ("ftapi-gpu-runner", "gpu")]
)
def test_workers_probe_their_queue(manifests: list[Manifest], name: str, queue: str) -> None:
    (worker,) = containers_of(named(manifests, "Deployment")[name])
    assert parse_ftapi_argv(worker["args"])["queue"] == queue
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        command = worker[probe]["exec"]["command"]
        assert command == ["ftapi", "worker", "--queue", queue, "--check"], probe
        # arq refreshes the key every 15 s: a probe must not give up within one refresh.
        assert worker[probe]["periodSeconds"] * worker[probe]["failureThreshold"] > 15


def test_ftapi_command_lines_parse(manifests: list[Manifest]) -> None:
    for manifest in workloads(manifests):
        for item in containers_of(manifest):
            if split_image(item["image"])[0] not in FTAPI_IMAGES:
                continue
            assert "command" not in item, "the images' ENTRYPOINT is ftapi; set args only"
            parse_ftapi_argv(item["args"])
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                command = item.get(probe, {}).get("exec", {}).get("command", [])
                if command[:1] == ["ftapi"]:
                    parse_ftapi_argv(command[1:])


def test_images_are_pinned(manifests: list[Manifest]) -> None:
    for manifest in workloads(manifests):
        for item in containers_of(manifest):
            _, tag = split_image(item["image"])
            assert tag not in {"", "latest"}, item["image"]


def test_only_the_runners_and_vllm_take_gpus(manifests: list[Manifest]) -> None:
    with_gpu = set()
    for manifest in workloads(manifests):
        for item in containers_of(manifest):
            requests, limits = item["resources"]["requests"], item["resources"]["limits"]
            if "nvidia.com/gpu" in requests or "nvidia.com/gpu" in limits:
                assert requests["nvidia.com/gpu"] == limits["nvidia.com/gpu"] == "1"
                with_gpu.add(f"{manifest['metadata']['name']}/{item['name']}")
    assert with_gpu == {"ftapi-gpu-runner/gpu-runner", "ftapi-inference/vllm"}


def test_the_migration_job_upgrades_the_database(manifests: list[Manifest]) -> None:
    job = named(manifests, "Job")["ftapi-migrate"]
    (migrate,) = containers_of(job)
    assert migrate["args"] == ["db", "upgrade"]
    assert pod(job)["restartPolicy"] in {"Never", "OnFailure"}
    assert job["spec"]["ttlSecondsAfterFinished"] > 0, "a finished Job makes way for the next"
    assert "FTAPI_DATABASE__URL" in env_of(migrate)
    config = named(manifests, "ConfigMap")["ftapi-config"]["data"]
    assert config["FTAPI_DATABASE__MIGRATE_ON_START"] == "false", "only the Job migrates"


def test_the_api_keeps_a_pod_through_disruptions(manifests: list[Manifest]) -> None:
    api = named(manifests, "Deployment")["ftapi-api"]
    (budget,) = named(manifests, "PodDisruptionBudget").values()
    assert selects(budget["spec"]["selector"]["matchLabels"], template_labels(api))
    assert 1 <= budget["spec"]["minAvailable"] < api["spec"]["replicas"]


def test_references_resolve(manifests: list[Manifest]) -> None:
    config_maps, claims = named(manifests, "ConfigMap"), named(manifests, "PersistentVolumeClaim")
    for service in named(manifests, "Service").values():
        targets = [
            m
            for m in workloads(manifests, LONG_RUNNING_KINDS)
            if selects(service["spec"]["selector"], template_labels(m))
        ]
        assert len(targets) == 1, service["metadata"]["name"]
        port_names = {
            port["name"] for item in containers_of(targets[0]) for port in item.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names
    for manifest in workloads(manifests):
        spec = pod(manifest)
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for volume in volumes.values():
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        for item in containers_of(manifest):
            for mount in item.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{manifest['metadata']['name']}: {mount['name']}"
            for source in item.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
