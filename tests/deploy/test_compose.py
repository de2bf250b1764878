"""deploy/compose.yaml and deploy/.env.example, checked offline (parsed, not run)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from service.settings import Environment, Settings, StorageBackend
from tests.deploy.ftapi_cli import (
    SECRET_NAME,
    commented_settings,
    option,
    parse_ftapi_argv,
    unknown_env_name,
)
from tests.deploy.kustomize import split_image

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
FTAPI_IMAGES = ("ftapi-api", "ftapi-runner")
ONE_SHOTS = frozenset({"migrate", "minio-init"})
# The services that call the adapter agent: the api serves chat completions through it, the ctl
# worker samples and grades eval runs through it.
AGENT_CLIENTS = ("api", "ctl-worker")
SERVING_PREFIX = "FTAPI_SERVING__"
PLACEHOLDER = "change-me"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
_CREDENTIALS_IN_URL = re.compile(r"://[^/@\s]*:(?P<password>[^@\s]+)@")
_MASK = "\N{REPLACEMENT CHARACTER}"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as YAML (merge keys resolved, variables left as written)."""
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    return loaded


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    """deploy/.env.example's variables."""
    variables = {}
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            variables[name.strip()] = value.strip()
    return variables


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's variable interpolation, enough for this file; ``$$`` stays a literal ``$``."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in variables and (variables[name] or op not in {":-", ":?"}):
            return variables[name]
        if op in {":?", "?"}:
            raise KeyError(f"{name} is required: {arg}")
        return arg or ""

    return _INTERPOLATION.sub(replace, value.replace("$$", "\0")).replace("\0", "$")


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services mapping."""
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (list form refused: keep one style)."""
    env = service.get("environment", {})
    assert isinstance(env, dict), "write environment as a mapping"
    return {name: str(value) for name, value in env.items()}


def argv(service: dict[str, Any]) -> list[str]:
    """A service's command as a list of words (exec form only)."""
    command = service.get("command", [])
    assert isinstance(command, list), "write commands in exec form"
    return [str(word) for word in command]


def image_of(service: dict[str, Any]) -> tuple[str, str]:
    """Image name and tag, the defaults of ``${VAR:-default}`` resolved."""
    return split_image(interpolate(service["image"], {}))


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Container path to (source, mode) for each short-syntax volume."""
    found = {}
    for volume in service.get("volumes", []):
        assert isinstance(volume, str), "short volume syntax"
        source, target, *mode = interpolate(volume, {}).split(":")
        found[target] = (source, mode[0] if mode else "rw")
    return found


def test_the_stack_has_every_part(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {
        "migrate",
        "api",
        "ctl-worker",
        "gpu-runner",
        "agent",
        "vllm",
        "redis",
        "postgres",
        "minio",
        "minio-init",
    }


def test_every_service_has_a_pinned_image(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        image, tag = image_of(service)
        assert tag not in {"", "latest"}, f"{name}: {service['image']} is not pinned"
        if image in FTAPI_IMAGES:
            target = {"ftapi-api": "api", "ftapi-runner": "runner"}[image]
            assert service["build"]["target"] == target, name
            assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if name in ONE_SHOTS:
            assert service["restart"] == "no", name
            continue
        assert service["restart"] == "unless-stopped", name
        test = service.get("healthcheck", {}).get("test")
        assert isinstance(test, list), name
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        assert {"interval", "timeout", "retries"} <= set(service["healthcheck"]), name


def test_dependencies_wait_for_health_or_completion(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    for name, service in all_services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: long depends_on syntax with conditions"
        for dependency, spec in depends_on.items():
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
            )
            assert spec == {"condition": expected}, f"{name} -> {dependency}"
            if expected == "service_healthy":
                assert "test" in all_services[dependency]["healthcheck"], dependency


def test_ftapi_processes_start_after_the_migration(compose: dict[str, Any]) -> None:
    for name in ("api", "ctl-worker", "gpu-runner"):
        depends_on = services(compose)[name]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
        assert depends_on["redis"] == {"condition": "service_healthy"}
    assert argv(services(compose)["migrate"]) == ["db", "upgrade"]
    assert services(compose)["migrate"]["depends_on"]["postgres"]["condition"] == (
        "service_healthy"
    )


def test_ftapi_commands_parse(compose: dict[str, Any]) -> None:
    for service in services(compose).values():
        image, _ = image_of(service)
        if image not in FTAPI_IMAGES:
            continue
        parse_ftapi_argv([interpolate(word, {}) for word in argv(service)])
        test = service["healthcheck"].get("test", [])
        if test[1:2] == ["ftapi"]:
            parse_ftapi_argv(test[2:])


def test_workers_check_their_own_queue(compose: dict[str, Any]) -> None:
    for name, queue in (("ctl-worker", "ctl"), ("gpu-runner", "gpu")):
        service = services(compose)[name]
        assert parse_ftapi_argv(argv(service))["queue"] == queue
        assert service["healthcheck"]["test"] == [
            "CMD",
            *["ftapi", "worker", "--queue", queue, "--check"],
        ]


def test_redis_is_durable_and_never_evicts(compose: dict[str, Any]) -> None:
    redis = services(compose)["redis"]
    command = " ".join(argv(redis))
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert mounts(redis)["/data"][0] in compose["volumes"]


def test_gpu_services_reserve_a_gpu(compose: dict[str, Any]) -> None:
    for name in ("gpu-runner", "vllm"):
        devices = services(compose)[name]["deploy"]["resources"]["reservations"]["devices"]
        assert [device["capabilities"] for device in devices] == [["gpu"]], name
    for name in ("api", "ctl-worker", "agent"):
        assert "deploy" not in services(compose)[name], f"{name} needs no GPU"


def test_vllm_serves_lora_from_the_agents_cache(compose: dict[str, Any]) -> None:
    vllm, agent = services(compose)["vllm"], services(compose)["agent"]
    assert image_of(vllm)[0] == "vllm/vllm-openai"
    vllm_args, agent_args = argv(vllm), argv(agent)
    assert "--enable-lora" in vllm_args
    assert option(vllm_args, "--max-loras")
    env = environment(vllm)
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "true"
    assert env["VLLM_PLUGINS"] == "lora_filesystem_resolver"
    agent_params = parse_ftapi_argv(agent_args)
    cache_dir = env["VLLM_LORA_RESOLVER_CACHE_DIR"]
    assert str(agent_params["cache_dir"]) == cache_dir
    agent_cache, vllm_cache = mounts(agent)[cache_dir], mounts(vllm)[cache_dir]
    assert agent_cache[0] == vllm_cache[0]
    assert agent_cache[0] in compose["volumes"]
    assert (agent_cache[1], vllm_cache[1]) == ("rw", "ro"), "only the agent writes the cache"
    # The agent's registry holds what vLLM's CPU cache holds (vllm-lora.md §6.6).
    assert agent_params["max_cpu_loras"] == int(option(vllm_args, "--max-cpu-loras"))
    assert agent_params["max_lora_rank"] == int(option(vllm_args, "--max-lora-rank"))
    assert int(option(vllm_args, "--max-cpu-loras")) >= int(option(vllm_args, "--max-loras"))
    assert agent_params["engine_url"] == f"http://vllm:{option(vllm_args, '--port')}"
    assert agent_params["host"] == "0.0.0.0"


def test_only_the_agent_reaches_vllm(compose: dict[str, Any]) -> None:
    assert compose["networks"]["inference"]["internal"] is True
    on_inference = {
        name for name, service in services(compose).items() if "inference" in service["networks"]
    }
    assert on_inference == {"vllm", "agent"}
    assert services(compose)["vllm"]["networks"] == ["inference"]
    assert "ports" not in services(compose)["vllm"]


@pytest.mark.parametrize("client", AGENT_CLIENTS)
def test_the_agents_clients_and_the_agent_agree_on_addresses_and_keys(
    compose: dict[str, Any], client: str
) -> None:
    caller, agent, vllm = (services(compose)[name] for name in (client, "agent", "vllm"))
    agent_port = parse_ftapi_argv(argv(agent))["port"]
    assert environment(caller)["FTAPI_SERVING__AGENT_URLS"] == f'["http://agent:{agent_port}"]'
    agent_key = environment(caller)["FTAPI_SERVING__AGENT_API_KEY"]
    assert environment(agent)["FTAPI_AGENT_API_KEY"] == agent_key
    assert environment(agent)["FTAPI_ENGINE_API_KEY"] == environment(vllm)["VLLM_API_KEY"]
    assert agent_key != environment(vllm)["VLLM_API_KEY"], "two keys, two trust boundaries"
    assert "backend" in caller["networks"], "the network the agent listens on"


def test_the_ctl_worker_reaches_the_agent_as_the_api_does(compose: dict[str, Any]) -> None:
    def serving(name: str) -> dict[str, str]:
        return {
            variable: value
            for variable, value in environment(services(compose)[name]).items()
            if variable.startswith(SERVING_PREFIX)
        }

    assert serving("ctl-worker") == serving("api")
    # Only the agent's clients hold its key (compose networks do not filter by service).
    holders = {
        name
        for name, service in services(compose).items()
        if "FTAPI_SERVING__AGENT_API_KEY" in environment(service)
    }
    assert holders == set(AGENT_CLIENTS)


def test_volumes_are_declared_and_bind_mounts_are_read_only(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, service in services(compose).items():
        for target, (source, mode) in mounts(service).items():
            if source.startswith((".", "/")):
                assert (target, mode) == ("/models", "ro"), f"{name}: only models are bound"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared


def test_environment_names_are_settings(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for variable in environment(service):
            assert unknown_env_name(variable) is None, f"{name}: {unknown_env_name(variable)}"


def test_secrets_come_only_from_the_env_file(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    for name, service in services(compose).items():
        for variable, value in environment(service).items():
            if SECRET_NAME.search(variable):
                assert _INTERPOLATION.fullmatch(value), f"{name}: {variable} holds a literal"
            credentials = _CREDENTIALS_IN_URL.search(_INTERPOLATION.sub(_MASK, value))
            if credentials:
                assert credentials["password"] == _MASK, f"{name}: {variable} holds a password"
    for variable, value in env_example.items():
        if SECRET_NAME.search(variable):
            assert value == PLACEHOLDER, f".env.example: {variable} must be a placeholder"


def test_the_env_file_and_the_compose_file_name_the_same_variables(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    matches = [
        match
        for text in strings_in(compose)
        for match in _INTERPOLATION.finditer(text.replace("$$", ""))
    ]
    assert {match["name"] for match in matches} == set(env_example), "all documented, none stale"
    required = {match["name"] for match in matches if match["op"] in {":?", "?"}}
    assert {name for name in env_example if SECRET_NAME.search(name)} <= required


def strings_in(node: object) -> list[str]:
    """Every string in a parsed YAML tree, keys included."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in strings_in(key) + strings_in(value)]
    if isinstance(node, list):
        return [text for item in node for text in strings_in(item)]
    return []


def settings_environment(
    compose: dict[str, Any], variables: dict[str, str], service: str = "api"
) -> dict[str, str]:
    """A service's FTAPI_* environment (the api's by default), interpolated with ``variables``."""
    env = environment(services(compose)[service])
    return {name: interpolate(value, variables) for name, value in env.items()}


def filled_env_example(env_example: dict[str, str]) -> dict[str, str]:
    """deploy/.env.example with every placeholder replaced by a real-looking secret."""
    return {
        name: "0f3c9a7e5b" * 4 if value == PLACEHOLDER else value
        for name, value in env_example.items()
    }


def test_settings_refuse_the_placeholders(
    compose: dict[str, Any], env_example: dict[str, str], clean_environment: pytest.MonkeyPatch
) -> None:
    for name, value in settings_environment(compose, env_example).items():
        clean_environment.setenv(name, value)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_settings_accept_real_secrets(
    compose: dict[str, Any], env_example: dict[str, str], clean_environment: pytest.MonkeyPatch
) -> None:
    for name, value in settings_environment(compose, filled_env_example(env_example)).items():
        clean_environment.setenv(name, value)
    settings = Settings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.database.url.startswith("postgresql+asyncpg://ftapi:0f3c9a7e5b")
    assert settings.database.migrate_on_start is False
    assert settings.redis.url.startswith("redis://:0f3c9a7e5b")
    assert settings.storage.backend is StorageBackend.S3
    assert settings.storage.s3_endpoint_url == "http://minio:9000"
    assert settings.storage.s3_path_style is True
    assert settings.serving.agent_urls == ["http://agent:8100"]


def test_the_ctl_worker_settings_serve_through_the_same_agents(
    compose: dict[str, Any], env_example: dict[str, str], clean_environment: pytest.MonkeyPatch
) -> None:
    filled = filled_env_example(env_example)
    loaded = {}
    for service in AGENT_CLIENTS:
        service_environment = settings_environment(compose, filled, service)
        for name, value in service_environment.items():
            clean_environment.setenv(name, value)
        loaded[service] = Settings()
        for name in service_environment:
            clean_environment.delenv(name)
    ctl_worker = loaded["ctl-worker"]
    assert ctl_worker.serving == loaded["api"].serving
    assert ctl_worker.serving.agent_urls == ["http://agent:8100"]
    assert ctl_worker.serving.agent_api_key is not None


def test_the_commented_eval_endpoints_are_settings_that_load(
    compose: dict[str, Any], env_example: dict[str, str], clean_environment: pytest.MonkeyPatch
) -> None:
    examples = commented_settings((DEPLOY / "compose.yaml").read_text("utf-8"))
    # vLLM has no --embedding-model: the cosine grader's endpoint is documented as a setting.
    assert "FTAPI_EVALS__EMBEDDINGS_BASE_URL" in examples
    assert "--embedding-model" not in argv(services(compose)["vllm"])
    for name in examples:
        assert unknown_env_name(name) is None, unknown_env_name(name)
    filled = filled_env_example(env_example)
    for name, value in {**settings_environment(compose, filled), **examples}.items():
        clean_environment.setenv(name, value)
    settings = Settings()
    assert settings.evals.embeddings_base_url == examples["FTAPI_EVALS__EMBEDDINGS_BASE_URL"]
