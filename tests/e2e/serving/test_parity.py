"""The served model is the trained model: the agent's parity check against ``ftapi engine``.

A real training run (the training loop, on the CPU) records the probes; the adapter is
published with them; the api, the agent and the engine (real processes) then serve it only when
the engine reproduces them. Another base model behind the engine, or adapter weights changed
after training, make the model unservable: 503 ``model_unservable``, one job event, the agent's
metric. An engine rendering chats with another template fails the same comparison.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from safetensors.torch import load_file, save_file

from gpu_runner.demo_model import build_tiny_llama
from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.distributed import Ranks
from gpu_runner.training.loop import TrainingRun
from gpu_runner.training.messages import Finished
from service.blobstore.keys import adapter_prefix
from service.clock import SystemClock
from service.db.engine import create_engine, create_session_factory
from service.jobs.store import JobStore
from service.models.adapters import ADAPTER_WEIGHTS_NAME
from service.models.fine_tuned import FineTunedModelRecord, FineTunedModelStore
from service.models.naming import fine_tuned_model_name
from service.models.parity_probes import (
    ProbeKind,
    ProbeObservation,
    ProbeSet,
    compare_probe,
    compare_probes,
)
from service.serving.agent.parity import (
    chat_observation,
    completion_observation,
    probe_request,
)
from service.serving.names import engine_adapter_name
from service.wiring.resources import blob_store_from_settings
from tests.e2e.serving.conftest import (
    AGENT_KEY,
    BASE_MODEL_ID,
    ENGINE_KEY,
    MAX_LOADED_ADAPTERS,
    PARITY_ATOL,
    ServingStack,
)
from tests.support.lora import RecordingChannel, phrase_jsonl, training_spec
from tests.support.serving import (
    caller_of_key,
    insert_job_with_checkpoints,
    publish_adapter,
    serving_running,
)
from tests.support.serving_processes import AgentProcess, EngineProcess
from tests.support.stack import ApiServer, StackConfig, write_registry

MESSAGES = [{"role": "user", "content": "Tell me about the weather."}]
UNSERVABLE_METRIC = re.compile(
    r'^ftapi_agent_model_unservable_total\{reason="(\w+)"\} (\S+)$', re.M
)


@dataclass(frozen=True)
class TrainedAdapter:
    directory: Path
    parity_probes: dict[str, Any]


@pytest.fixture(scope="module")
def trained(
    serving_stack: ServingStack, tmp_path_factory: pytest.TempPathFactory
) -> TrainedAdapter:
    """An adapter trained on the stack's base model by the real training loop, with its probes.

    In this process rather than through ``LoraTrainer``'s child process, to save the child's
    start (``test_lora_trainer`` shows the probes come through the message pipe)."""
    root = tmp_path_factory.mktemp("parity-training")
    training_file = root / "train.jsonl"
    training_file.write_bytes(phrase_jsonl(8))
    spec = training_spec(
        serving_stack.model_dir,
        training_file,
        root / "work",
        base_model_id=BASE_MODEL_ID,
        max_lora_rank=16,
        n_epochs=2,
    )
    # A high rate, so the adapter moves the probes' logprobs far beyond the tolerance: a check
    # run against the base model instead must fail (see the first test).
    config = RunConfig.from_spec(spec, LoraTrainerSettings(base_learning_rate=3e-2))
    channel = RecordingChannel()
    TrainingRun(config, channel, channel, Ranks()).run()
    (finished,) = channel.of_kind("finished")
    assert isinstance(finished, Finished)
    assert finished.parity_probes is not None
    return TrainedAdapter(config.adapter_dir, finished.parity_probes)


def publish(
    stack: ServingStack, key: str, adapter_dir: Path, probes: dict[str, Any]
) -> tuple[str, str]:
    """Publish ``adapter_dir`` with ``probes`` as a job's success does; (model id, job id)."""
    return asyncio.run(_publish(stack, key, adapter_dir, probes))


async def _publish(
    stack: ServingStack, key: str, adapter_dir: Path, probes: dict[str, Any]
) -> tuple[str, str]:
    settings = stack.settings
    caller = await caller_of_key(settings, key)
    job_id = "ftjob-" + secrets.token_hex(12)
    name = fine_tuned_model_name(BASE_MODEL_ID, caller.organization_slug, "parity", job_id)
    prefix = adapter_prefix(caller.project_id, job_id, 1)
    blobs = blob_store_from_settings(settings)
    engine = create_engine(settings.database_url)
    try:
        await publish_adapter(
            blobs,
            prefix,
            adapter_dir,
            model=name,
            base_model=BASE_MODEL_ID,
            job_id=job_id,
            parity_probes=probes,
        )
        sessions = create_session_factory(engine)
        async with sessions.begin() as session:
            await insert_job_with_checkpoints(
                session, caller, job_id, base_model=BASE_MODEL_ID, checkpoints={}
            )
        await FineTunedModelStore(sessions).insert(
            FineTunedModelRecord(
                id=name,
                project_id=caller.project_id,
                organization_id=caller.organization_id,
                job_id=job_id,
                base_model=BASE_MODEL_ID,
                blob_prefix=prefix,
                created_at=int(time.time()),
            )
        )
    finally:
        await blobs.close()
        await engine.dispose()
    return name, job_id


def chat(sdk: openai.OpenAI, model: str) -> str:
    completion = sdk.chat.completions.create(
        model=model,
        messages=MESSAGES,
        temperature=0,
        max_tokens=4,  # type: ignore[arg-type]
    )
    return completion.choices[0].message.content or ""


def assert_unservable(sdk: openai.OpenAI, model: str) -> str:
    """The 503 ``model_unservable`` a request for ``model`` gets; returns its message."""
    with pytest.raises(openai.InternalServerError) as refused:
        chat(sdk, model)
    assert refused.value.status_code == 503
    assert refused.value.code == "model_unservable"
    assert refused.value.response.headers.get("x-should-retry") == "false"
    assert model in refused.value.message
    assert "ftm-" not in refused.value.message  # the engine-side name never leaks
    return refused.value.message


def parity_events(stack: ServingStack, job_id: str) -> list[str]:
    """The job's parity-check events, read from its event store (the test's job row is bare,
    so the jobs API would not render it)."""

    async def read() -> list[str]:
        engine = create_engine(stack.settings.database_url)
        try:
            store = JobStore(create_session_factory(engine), SystemClock())
            page = await store.events_page(job_id, after_id=None, limit=100)
        finally:
            await engine.dispose()
        return [event.message for event in page.items if "parity check" in event.message]

    return asyncio.run(read())


def unservable_counts(agent: AgentProcess) -> dict[str, float]:
    return {reason: float(value) for reason, value in UNSERVABLE_METRIC.findall(agent.metrics())}


def base_model_observations(stack: ServingStack, probes: ProbeSet) -> list[ProbeObservation]:
    """What the engine's base model (no adapter) answers to the probes, asked as the agent does."""
    return engine_observations(stack.engine.url, BASE_MODEL_ID, probes)


def engine_observations(engine_url: str, model: str, probes: ProbeSet) -> list[ProbeObservation]:
    """What ``model`` on the engine at ``engine_url`` answers to the probes, asked as the agent
    asks them."""
    observed = []
    headers = {"authorization": f"Bearer {ENGINE_KEY}"}
    for reference in probes.references:
        prompt = probes.prompt_of(reference)
        route, payload = probe_request(model, prompt, probes.max_tokens)
        answer = httpx.post(f"{engine_url}{route}", json=payload, headers=headers)
        body = answer.raise_for_status().json()
        if prompt.kind is ProbeKind.COMPLETION:
            observed.append(completion_observation(body))
        else:
            observed.append(chat_observation(body))
    return observed


def test_a_freshly_trained_model_passes_its_parity_check(
    serving_stack: ServingStack, project_key: str, trained: TrainedAdapter
) -> None:
    model, job_id = publish(serving_stack, project_key, trained.directory, trained.parity_probes)
    with serving_stack.sdk(project_key) as sdk:
        first = chat(sdk, model)
        assert chat(sdk, model) == first
        assert parity_events(serving_stack, job_id) == []

    parity = serving_stack.agent.state()["parity"]
    assert isinstance(parity, dict)
    assert engine_adapter_name(model) in parity["passed"]
    # The check is sharp: the base model's answers (an engine ignoring the adapter) fail it.
    probes = ProbeSet.from_manifest({"parity_probes": trained.parity_probes})
    assert probes is not None
    mismatch = compare_probes(
        probes, base_model_observations(serving_stack, probes), atol=PARITY_ATOL
    )
    assert mismatch is not None, "the trained adapter does not move the probes"


def test_adapter_weights_changed_after_training_make_the_model_unservable(
    serving_stack: ServingStack, project_key: str, trained: TrainedAdapter, tmp_path: Path
) -> None:
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for path in trained.directory.iterdir():
        (tampered / path.name).write_bytes(path.read_bytes())
    weights = load_file(tampered / ADAPTER_WEIGHTS_NAME)
    save_file(
        {name: tensor * 1.5 if "lora_B" in name else tensor for name, tensor in weights.items()},
        tampered / ADAPTER_WEIGHTS_NAME,
        metadata={"format": "pt"},
    )
    before = sum(unservable_counts(serving_stack.agent).values())
    model, job_id = publish(serving_stack, project_key, tampered, trained.parity_probes)

    with serving_stack.sdk(project_key) as sdk:
        message = assert_unservable(sdk, model)
        assert "does not reproduce the trained model" in message
        assert_unservable(sdk, model)  # refused at once now, and reported once
        events = parity_events(serving_stack, job_id)

    assert len(events) == 1, events
    assert model in events[0]
    assert "ftm-" not in events[0]
    assert sum(unservable_counts(serving_stack.agent).values()) == before + 1
    parity = serving_stack.agent.state()["parity"]
    assert isinstance(parity, dict)
    assert engine_adapter_name(model) in parity["unservable"]
    # A failed adapter does not stay loaded in the engine.
    assert engine_adapter_name(model) not in serving_stack.engine.model_ids()


@pytest.fixture(scope="module")
def wrong_base_stack(serving_stack: ServingStack) -> Iterator[tuple[ApiServer, AgentProcess]]:
    """A second engine serving a differently seeded tiny model under the same name (same
    tokenizer), its agent, and an api that reaches only that agent; same database and blobs."""
    root = serving_stack.root / "wrong-base"
    other_model = build_tiny_llama(root / "model", chat_template="chatml", seed=1)
    assert (other_model / "tokenizer.json").read_bytes() == (
        serving_stack.model_dir / "tokenizer.json"
    ).read_bytes()
    engine = EngineProcess(
        other_model,
        BASE_MODEL_ID,
        root / "logs",
        max_loras=MAX_LOADED_ADAPTERS,
        max_cpu_loras=MAX_LOADED_ADAPTERS,
        api_key=ENGINE_KEY,
    )
    shared = serving_stack.api.config
    agent = AgentProcess(
        engine,
        StackConfig(data_dir=shared.data_dir, redis_url=shared.redis_url),
        root / "agent-cache",
        max_cpu_loras=MAX_LOADED_ADAPTERS,
        api_key=AGENT_KEY,
        extra_options=["--parity-logprob-atol", str(PARITY_ATOL)],
    )
    registry = root / "models.toml"
    write_registry(registry, {BASE_MODEL_ID: serving_stack.model_dir})
    api = ApiServer(
        StackConfig(
            data_dir=shared.data_dir,
            redis_url=shared.redis_url,
            extra_env={
                "FTAPI_MODELS__REGISTRY_PATH": str(registry),
                "FTAPI_SERVING__AGENT_URLS": json.dumps([agent.url]),
                "FTAPI_SERVING__AGENT_API_KEY": AGENT_KEY,
            },
        ),
        ctl_worker=False,
    )
    with serving_running(api, engine, agent):
        yield api, agent


def test_another_base_model_behind_the_engine_makes_the_model_unservable(
    serving_stack: ServingStack,
    project_key: str,
    trained: TrainedAdapter,
    wrong_base_stack: tuple[ApiServer, AgentProcess],
) -> None:
    api, agent = wrong_base_stack
    model, job_id = publish(serving_stack, project_key, trained.directory, trained.parity_probes)
    sdk = openai.OpenAI(
        base_url=api.base_url, api_key=project_key, _strict_response_validation=True, max_retries=0
    )
    with sdk:
        assert_unservable(sdk, model)
        assert len(parity_events(serving_stack, job_id)) == 1
    assert sum(unservable_counts(agent).values()) == 1
    # The same model on the right base still serves.
    with serving_stack.sdk(project_key) as right:
        assert chat(right, model)


# The same turns in another markup: what a model directory whose template was edited (or taken
# from another model) renders: plain role names, ChatML's end of turn.
OTHER_TEMPLATE = (
    "{% for message in messages %}{{ message.role }}: {{ message.content }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def test_an_engine_rendering_chats_with_another_template_fails_the_check(
    serving_stack: ServingStack, trained: TrainedAdapter, tmp_path: Path
) -> None:
    model_dir = tmp_path / "other-template"
    shutil.copytree(serving_stack.model_dir, model_dir)
    (model_dir / "chat_template.jinja").write_text(OTHER_TEMPLATE)
    tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    tokenizer_config.pop("chat_template", None)
    (model_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    engine = EngineProcess(
        model_dir,
        BASE_MODEL_ID,
        tmp_path / "logs",
        max_loras=1,
        max_cpu_loras=1,
        api_key=ENGINE_KEY,
    )
    probes = ProbeSet.from_manifest({"parity_probes": trained.parity_probes})
    assert probes is not None
    assert any(probes.prompt_of(r).kind is ProbeKind.CHAT for r in probes.references)
    engine.start()
    try:
        engine.wait()
        loaded = httpx.post(
            f"{engine.url}/v1/load_lora_adapter",
            json={"lora_name": "trained", "lora_path": str(trained.directory)},
            headers={"authorization": f"Bearer {ENGINE_KEY}"},
        )
        loaded.raise_for_status()
        observed = engine_observations(engine.url, "trained", probes)
    finally:
        engine.stop()

    mismatch = compare_probes(probes, observed, atol=PARITY_ATOL)
    assert mismatch is not None, "another chat template passed the parity check"
    # The completion probes (no template) still match: the check points at the template.
    for reference, seen in zip(probes.references, observed, strict=True):
        if probes.prompt_of(reference).kind is ProbeKind.COMPLETION:
            assert compare_probe(reference, seen, atol=PARITY_ATOL) is None
