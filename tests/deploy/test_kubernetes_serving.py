"""deploy/k8s serving and scaling: vLLM with its agent, the registry, routing, KEDA, isolation."""

from __future__ import annotations

import json
from pathlib import Path

from gpu_runner.training.config import LoraTrainerSettings
from service.models.registry import ModelRegistry
from service.queue.names import QueueName
from tests.deploy.ftapi_cli import option, parse_ftapi_argv
from tests.deploy.kustomize import Manifest, containers_of, split_image
from tests.deploy.manifests import (
    AGENT_CLIENTS,
    SECRET_NAME_IN_CLUSTER,
    container,
    env_of,
    env_sources,
    named,
    pod,
    quantity_bytes,
    secret_key,
    selects,
    template_labels,
    workloads,
)

# (Deployment, container) of every ftapi process that reads the base-model registry.
REGISTRY_READERS = (
    ("ftapi-api", "api"),
    ("ftapi-ctl-worker", "ctl-worker"),
    ("ftapi-gpu-runner", "gpu-runner"),
)


def test_vllm_serves_lora_from_its_agents_cache(manifests: list[Manifest]) -> None:
    inference = named(manifests, "StatefulSet")["ftapi-inference"]
    assert {item["name"] for item in containers_of(inference)} == {"vllm", "agent"}
    vllm, agent = container(inference, "vllm"), container(inference, "agent")
    assert split_image(vllm["image"])[0] == "vllm/vllm-openai"
    args = vllm["args"]
    assert "--enable-lora" in args
    vllm_env = env_of(vllm)
    assert vllm_env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"]["value"] == "true"
    assert vllm_env["VLLM_PLUGINS"]["value"] == "lora_filesystem_resolver"
    cache_dir = vllm_env["VLLM_LORA_RESOLVER_CACHE_DIR"]["value"]
    agent_params = parse_ftapi_argv(agent["args"])
    assert str(agent_params["cache_dir"]) == cache_dir
    vllm_mounts = {mount["mountPath"]: mount for mount in vllm["volumeMounts"]}
    agent_mounts = {mount["mountPath"]: mount for mount in agent["volumeMounts"]}
    assert vllm_mounts[cache_dir]["name"] == agent_mounts[cache_dir]["name"]
    assert vllm_mounts[cache_dir]["readOnly"] is True, "only the agent writes the cache"
    assert "readOnly" not in agent_mounts[cache_dir]
    volumes = {volume["name"]: volume for volume in pod(inference)["volumes"]}
    cache_volume = volumes[agent_mounts[cache_dir]["name"]]
    assert agent_params["cache_max_bytes"] < quantity_bytes(cache_volume["emptyDir"]["sizeLimit"])
    # The agent's registry holds what vLLM's CPU cache holds (vllm-lora.md §6.6).
    assert agent_params["max_cpu_loras"] == int(option(args, "--max-cpu-loras"))
    assert int(option(args, "--max-cpu-loras")) >= int(option(args, "--max-loras"))
    assert agent_params["max_lora_rank"] == int(option(args, "--max-lora-rank"))
    assert agent_params["engine_url"] == f"http://127.0.0.1:{option(args, '--port')}"
    assert agent_params["host"] == "0.0.0.0"
    # One key per boundary: api -> agent, agent -> vLLM.
    assert secret_key(vllm_env["VLLM_API_KEY"]) == secret_key(env_of(agent)["FTAPI_ENGINE_API_KEY"])
    api = container(named(manifests, "Deployment")["ftapi-api"], "api")
    assert secret_key(env_of(api)["FTAPI_SERVING__AGENT_API_KEY"]) == secret_key(
        env_of(agent)["FTAPI_AGENT_API_KEY"]
    )


def test_the_served_model_is_a_registry_entry(manifests: list[Manifest], tmp_path: Path) -> None:
    config = named(manifests, "ConfigMap")
    registry_file = tmp_path / "models.toml"
    registry_file.write_text(config["ftapi-models"]["data"]["models.toml"], encoding="utf-8")
    registry = ModelRegistry.from_file(registry_file)
    args = container(named(manifests, "StatefulSet")["ftapi-inference"], "vllm")["args"]
    spec = registry.require(option(args, "--served-model-name"))
    assert str(spec.path) == args[0], "vLLM's model is the registry entry's directory"
    assert int(option(args, "--max-lora-rank")) >= spec.max_lora_rank
    # Every process that reads the registry sees it and the model directories it names.
    registry_path = Path(config["ftapi-config"]["data"]["FTAPI_MODELS__REGISTRY_PATH"])
    for item in (
        container(named(manifests, "Deployment")[deployment], name)
        for deployment, name in REGISTRY_READERS
    ):
        mounts = {mount["mountPath"] for mount in item["volumeMounts"]}
        assert str(registry_path.parent) in mounts, item["name"]
        assert str(spec.path.parent) in mounts, item["name"]


def test_agent_urls_name_every_inference_replica(manifests: list[Manifest]) -> None:
    inference = named(manifests, "StatefulSet")["ftapi-inference"]
    service = named(manifests, "Service")[inference["spec"]["serviceName"]]
    assert service["spec"]["clusterIP"] == "None", "headless: one DNS name per replica"
    port = parse_ftapi_argv(container(inference, "agent")["args"])["port"]
    urls = json.loads(
        named(manifests, "ConfigMap")["ftapi-config"]["data"]["FTAPI_SERVING__AGENT_URLS"]
    )
    name = inference["metadata"]["name"]
    assert urls == [
        f"http://{name}-{index}.{service['metadata']['name']}:{port}"
        for index in range(inference["spec"]["replicas"])
    ]


def test_the_ctl_worker_reaches_the_agents_as_the_api_does(manifests: list[Manifest]) -> None:
    deployments = named(manifests, "Deployment")
    serving = [
        {
            name: source
            for name, source in env_sources(manifests, container(deployments[d], c)).items()
            if name.startswith("FTAPI_SERVING__")
        }
        for d, c in AGENT_CLIENTS
    ]
    api_serving, ctl_worker_serving = serving
    assert ctl_worker_serving == api_serving, "same agent URLs, same key"
    agent = container(named(manifests, "StatefulSet")["ftapi-inference"], "agent")
    agent_key = ("secret", secret_key(env_of(agent)["FTAPI_AGENT_API_KEY"]))
    assert api_serving["FTAPI_SERVING__AGENT_API_KEY"] == agent_key
    assert api_serving["FTAPI_SERVING__AGENT_URLS"][0] == "value"
    # The agents' key goes to their clients and to the agents themselves, to nobody else.
    holders = {
        f"{manifest['metadata']['name']}/{item['name']}"
        for manifest in workloads(manifests)
        for item in containers_of(manifest)
        if agent_key in env_sources(manifests, item).values()
    }
    assert holders == {f"{d}/{c}" for d, c in AGENT_CLIENTS} | {"ftapi-inference/agent"}


def test_only_the_agents_clients_reach_the_inference_pods(manifests: list[Manifest]) -> None:
    (policy,) = named(manifests, "NetworkPolicy").values()
    inference = named(manifests, "StatefulSet")["ftapi-inference"]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    selected = [
        m["metadata"]["name"] for m in workloads(manifests) if selects(selector, template_labels(m))
    ]
    assert selected == ["ftapi-inference"], "the policy isolates the vLLM pods, nothing else"
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    agent_port = container(inference, "agent")["ports"][0]["containerPort"]
    vllm_port = container(inference, "vllm")["ports"][0]["containerPort"]
    admitted = []
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            assert set(peer) == {"podSelector"}, "pods of this namespace only"
            admitted += [
                m["metadata"]["name"]
                for m in workloads(manifests)
                if selects(peer["podSelector"]["matchLabels"], template_labels(m))
            ]
        assert [port["port"] for port in rule["ports"]] == [agent_port]
        assert vllm_port != agent_port
    # The api (chat completions) and the ctl worker (eval runs), each once, and nothing else.
    assert sorted(admitted) == sorted(deployment for deployment, _ in AGENT_CLIENTS)


def test_keda_scales_the_gpu_runners_on_the_gpu_queue(
    manifests: list[Manifest], secret_example: Manifest
) -> None:
    (scaled,) = named(manifests, "ScaledObject").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    runners = named(manifests, "Deployment")[scaled["spec"]["scaleTargetRef"]["name"]]
    assert runners["metadata"]["name"] == "ftapi-gpu-runner"
    assert "replicas" not in runners["spec"], "KEDA's HPA owns the replica count"
    assert 0 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    # arq's queue is a sorted set; KEDA's redis scaler measures it with ZCARD (see the manifest).
    assert trigger["metadata"]["listName"] == QueueName.GPU.value
    assert trigger["metadata"]["listLength"] == "1", "one attempt per runner"
    redis_url = secret_example["stringData"]["redis-url"]
    assert trigger["metadata"]["databaseIndex"] == redis_url.rsplit("/", 1)[1]
    authentication = named(manifests, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    parameters = {ref["parameter"]: ref for ref in authentication["spec"]["secretTargetRef"]}
    assert set(parameters) == {"address", "password"}
    for reference in parameters.values():
        assert reference["name"] == SECRET_NAME_IN_CLUSTER
        assert reference["key"] in secret_example["stringData"]
    # A scaled-down runner checkpoints within the trainer's grace before it is killed.
    grace_s = pod(runners)["terminationGracePeriodSeconds"]
    assert grace_s > LoraTrainerSettings().stop_grace_s
