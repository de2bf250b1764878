"""Same template, same tokens: a registry entry's ``chat_template`` reaches the engine by itself.

The engine is started as deployments start it (``--served-model-name`` = the registry id, no
``--chat-template``) with the registry in its environment. A chat through the api's gateway,
for the base model and for a fine-tuned model of it, then reads exactly the tokens the trainer's
``ChatTokenizer`` makes from the registry's template (``usage.prompt_tokens``), not those of the
tokenizer's own template. ``ftapi registry chat-template`` hands the same text to vLLM.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openai import OpenAI

from cli.models import registry_entry
from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.datasets.tokenization.tokenizer_files import read_tokenizer_files
from service.models.registry import BaseModelSpec
from tests.support.services import RedisServer
from tests.support.serving import publish_fine_tuned_model, write_tiny_lora
from tests.support.serving_processes import AgentProcess, EngineProcess
from tests.support.stack import REPO_ROOT, ApiServer, StackConfig
from tests.support.tiny_model import TinyModels

CUSTOM_ID = "ftapi/tiny-custom-template"
PLAIN_ID = "ftapi/tiny-own-template"
# ChatML's tokens (so the format is recognised) around a long, unmistakable preamble per turn.
CUSTOM_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n[registry template: answer as trained]\\n' }}"
    "{{- message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
MESSAGES = [{"role": "user", "content": "What is the weather like?"}]
ENGINE_KEY = "engine-" + secrets.token_hex(8)
AGENT_KEY = "agent-" + secrets.token_hex(8)


@dataclass
class TemplateStack:
    api: ApiServer
    model_dir: Path


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels) -> Path:
    """The tiny model twice: with the custom template, and with its tokenizer's own."""
    model_dir = tiny_models.model_dir("chatml")
    path = tmp_path_factory.mktemp("registry-template") / "models.toml"
    custom = BaseModelSpec(id=CUSTOM_ID, path=model_dir, chat_template=CUSTOM_TEMPLATE)
    path.write_text(
        registry_entry(custom) + "\n" + registry_entry(BaseModelSpec(id=PLAIN_ID, path=model_dir))
    )
    return path


@pytest.fixture(scope="module")
def template_stack(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    tiny_models: TinyModels,
    registry: Path,
) -> Iterator[TemplateStack]:
    """Engine + agent + api; the registry gives the served base model a custom template."""
    root = tmp_path_factory.mktemp("registry-template-stack")
    model_dir = tiny_models.model_dir("chatml")
    engine = EngineProcess(
        model_dir,
        CUSTOM_ID,
        root / "logs",
        max_loras=1,
        max_cpu_loras=2,
        api_key=ENGINE_KEY,
        extra_env={"FTAPI_MODELS__REGISTRY_PATH": str(registry)},
    )
    base = StackConfig(data_dir=root / "stack", redis_url=redis_server.new_database_url())
    agent = AgentProcess(engine, base, root / "agent-cache", max_cpu_loras=2, api_key=AGENT_KEY)
    config = StackConfig(
        data_dir=base.data_dir,
        redis_url=base.redis_url,
        extra_env={
            "FTAPI_MODELS__REGISTRY_PATH": str(registry),
            "FTAPI_SERVING__AGENT_URLS_BY_BASE": json.dumps({CUSTOM_ID: [agent.url]}),
            "FTAPI_SERVING__AGENT_API_KEY": AGENT_KEY,
        },
    )
    api = ApiServer(config, ctl_worker=False)
    try:
        engine.start()
        agent.start()
        api.start()
        agent.wait()
        engine.wait()
        yield TemplateStack(api, model_dir)
    finally:
        api.stop()
        agent.stop()
        engine.stop()


def prompt_tokens(model_dir: Path, chat_template: str | None) -> int:
    """How many tokens the trainer's tokenizer makes of ``MESSAGES`` with this template."""
    files = read_tokenizer_files(model_dir)
    chat = ChatTokenizer(files, max_seq_length=None, chat_template=chat_template)
    text = chat.render_chat(MESSAGES, add_generation_prompt=True)
    return len(files.tokenizer.encode(text, add_special_tokens=False).ids)


def publish(stack: TemplateStack, key: str) -> str:
    """A fine-tuned model of ``CUSTOM_ID``, published as the runner publishes one."""
    adapter = write_tiny_lora(stack.model_dir, stack.api.config.data_dir / "adapter", seed=3)
    return asyncio.run(
        publish_fine_tuned_model(
            stack.api.config.settings(), key, adapter, base_model=CUSTOM_ID, suffix="tpl"
        )
    )


def test_the_engine_renders_chats_with_the_registry_template(
    template_stack: TemplateStack,
) -> None:
    key = template_stack.api.new_key("template")
    fine_tuned = publish(template_stack, key)
    expected = prompt_tokens(template_stack.model_dir, CUSTOM_TEMPLATE)
    assert expected != prompt_tokens(template_stack.model_dir, None)  # the check can tell

    with OpenAI(
        base_url=template_stack.api.base_url,
        api_key=key,
        _strict_response_validation=True,
        max_retries=0,
    ) as sdk:
        for model in (fine_tuned, CUSTOM_ID):
            completion = sdk.chat.completions.create(
                model=model,
                messages=MESSAGES,  # type: ignore[arg-type]
                temperature=0,
                max_tokens=2,
            )
            assert completion.usage is not None
            assert completion.usage.prompt_tokens == expected, model


def run_cli(registry: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "registry", "chat-template", *args],
        env=os.environ | {"FTAPI_MODELS__REGISTRY_PATH": str(registry)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_models_chat_template_prints_what_vllm_needs(registry: Path, tmp_path: Path) -> None:
    printed = run_cli(registry, CUSTOM_ID)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == CUSTOM_TEMPLATE

    written = run_cli(registry, CUSTOM_ID, "--output", str(tmp_path / "t.jinja"))
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "t.jinja").read_text() == CUSTOM_TEMPLATE

    own = run_cli(registry, PLAIN_ID)
    assert own.returncode == 3
    assert own.stdout == ""

    missing = run_cli(registry, "no/such-model")
    assert missing.returncode == 1
    assert "no model with id" in missing.stderr
