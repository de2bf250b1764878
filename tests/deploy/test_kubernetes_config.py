"""deploy/k8s configuration: Secret references only, settings names, the api's Settings."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from service.settings import Environment, Settings, StorageBackend
from tests.deploy.ftapi_cli import SECRET_NAME, commented_settings, unknown_env_name
from tests.deploy.kustomize import Manifest, containers_of
from tests.deploy.manifests import (
    AGENT_CLIENTS,
    K8S,
    SECRET_EXAMPLE,
    container,
    container_environment,
    env_of,
    named,
    secret_key,
    workloads,
)

PLACEHOLDER = "CHANGE-ME"


def test_secrets_are_references_only(manifests: list[Manifest], secret_example: Manifest) -> None:
    assert not named(manifests, "Secret"), "the base ships no Secret"
    assert SECRET_EXAMPLE.name.endswith(".example.yaml")
    assert (
        SECRET_EXAMPLE.name
        not in yaml.safe_load((K8S / "kustomization.yaml").read_text("utf-8"))["resources"]
    )
    example_keys = set(secret_example["stringData"])
    used = set()
    for manifest in workloads(manifests):
        for item in containers_of(manifest):
            for name, entry in env_of(item).items():
                if "valueFrom" in entry:
                    used.add(secret_key(entry))
                elif SECRET_NAME.search(name):
                    raise AssertionError(f"{name} holds a literal value")
    for authentication in named(manifests, "TriggerAuthentication").values():
        used |= {ref["key"] for ref in authentication["spec"]["secretTargetRef"]}
    assert used == example_keys, "every key the pods read is in the example, and only those"
    for key, value in secret_example["stringData"].items():
        if SECRET_NAME.search(key.replace("-", "_")) or "://" in value:
            assert PLACEHOLDER in value, f"{key} must be a placeholder"


def api_environment(manifests: list[Manifest], secrets: dict[str, str]) -> dict[str, str]:
    """The api container's environment, ConfigMap and Secret references resolved."""
    api = container(named(manifests, "Deployment")["ftapi-api"], "api")
    return container_environment(manifests, api, secrets)


def filled_secrets(secret_example: Manifest) -> dict[str, str]:
    """The example Secret's keys with every placeholder replaced by a real-looking value."""
    return {
        key: value.replace(PLACEHOLDER, "0f3c9a7e5b" * 4)
        for key, value in secret_example["stringData"].items()
    }


def test_configuration_names_are_settings(manifests: list[Manifest]) -> None:
    for config_map in named(manifests, "ConfigMap").values():
        for name in config_map["data"]:
            assert unknown_env_name(name) is None, unknown_env_name(name)
    for manifest in workloads(manifests):
        for item in containers_of(manifest):
            for name in env_of(item):
                assert unknown_env_name(name) is None, unknown_env_name(name)


def test_settings_refuse_the_example_placeholders(
    manifests: list[Manifest], secret_example: Manifest, clean_environment: pytest.MonkeyPatch
) -> None:
    for name, value in api_environment(manifests, secret_example["stringData"]).items():
        clean_environment.setenv(name, value)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_settings_accept_the_api_environment(
    manifests: list[Manifest], secret_example: Manifest, clean_environment: pytest.MonkeyPatch
) -> None:
    for name, value in api_environment(manifests, filled_secrets(secret_example)).items():
        clean_environment.setenv(name, value)
    settings = Settings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.database.migrate_on_start is False
    assert settings.storage.backend is StorageBackend.S3
    assert len(settings.serving.agent_urls) == 2
    assert settings.serving.agent_api_key is not None


def test_the_ctl_worker_settings_serve_through_the_same_agents(
    manifests: list[Manifest], secret_example: Manifest, clean_environment: pytest.MonkeyPatch
) -> None:
    deployments, secrets = named(manifests, "Deployment"), filled_secrets(secret_example)
    serving = []
    for deployment, name in AGENT_CLIENTS:
        environment = container_environment(
            manifests, container(deployments[deployment], name), secrets
        )
        for variable, value in environment.items():
            clean_environment.setenv(variable, value)
        serving.append(Settings().serving)
        for variable in environment:
            clean_environment.delenv(variable)
    api, ctl_worker = serving
    assert ctl_worker == api
    assert len(ctl_worker.agent_urls) == 2
    assert ctl_worker.agent_api_key is not None


def test_the_commented_examples_are_settings_that_load(
    manifests: list[Manifest], secret_example: Manifest, clean_environment: pytest.MonkeyPatch
) -> None:
    examples = commented_settings((K8S / "config.yaml").read_text("utf-8"))
    # vLLM has no --embedding-model: the cosine grader's endpoint is documented as a setting.
    assert "FTAPI_EVALS__EMBEDDINGS_BASE_URL" in examples
    vllm = container(named(manifests, "StatefulSet")["ftapi-inference"], "vllm")
    assert "--embedding-model" not in vllm["args"]
    for name in examples:
        assert unknown_env_name(name) is None, unknown_env_name(name)
    environment = api_environment(manifests, filled_secrets(secret_example))
    for name, value in {**environment, **examples}.items():
        clean_environment.setenv(name, value)
    settings = Settings()
    assert settings.evals.embeddings_base_url == examples["FTAPI_EVALS__EMBEDDINGS_BASE_URL"]
