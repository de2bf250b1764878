"""Fine-tuned models served through the api, the adapter agent and ``ftapi engine``, driven by
the official SDK in strict mode. Greedy decoding: an adapter answers the same every time and
differently from the base model."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from openai import OpenAI

from service.serving.names import engine_adapter_name
from tests.e2e.serving.conftest import BASE_MODEL_ID, MAX_LOADED_ADAPTERS, ServingStack

MESSAGES = [{"role": "user", "content": "Tell me about the weather."}]
MAX_TOKENS = 8


def chat(sdk: OpenAI, model: str) -> str:
    """The greedy answer of ``model``, checking the answer names the model asked for."""
    completion = sdk.chat.completions.create(
        model=model,
        messages=MESSAGES,
        temperature=0,
        max_tokens=MAX_TOKENS,  # type: ignore[arg-type]
    )
    assert completion.model == model
    assert completion.object == "chat.completion"
    assert completion.usage is not None
    assert completion.usage.completion_tokens >= 1
    content = completion.choices[0].message.content
    assert content is not None
    return content


def chat_streamed(sdk: OpenAI, model: str) -> str:
    """The same answer, streamed; every chunk names the model asked for."""
    pieces = []
    with sdk.chat.completions.create(
        model=model,
        messages=MESSAGES,  # type: ignore[arg-type]
        temperature=0,
        max_tokens=MAX_TOKENS,
        stream=True,
    ) as stream:
        for chunk in stream:
            assert chunk.model == model
            assert chunk.object == "chat.completion.chunk"
            pieces += [choice.delta.content or "" for choice in chunk.choices]
    return "".join(pieces)


def assert_agent_drops(serving_stack: ServingStack, name: str, timeout_s: float = 10) -> None:
    """Wait until the agent neither serves nor caches the engine-side adapter ``name``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = serving_stack.agent.state()
        loaded = [entry["name"] for entry in state["loaded"]]  # type: ignore[attr-defined]
        if name not in loaded and name not in state["cache"]["entries"]:  # type: ignore[index]
            return
        time.sleep(0.1)
    pytest.fail(f"the agent still holds {name}: {state}")


def test_two_adapters_and_the_base_interleaved(
    serving_stack: ServingStack, project_key: str
) -> None:
    first = serving_stack.publish(project_key, seed=1)
    second = serving_stack.publish(project_key, seed=2)
    answers: dict[str, list[str]] = {first: [], second: [], BASE_MODEL_ID: []}

    with serving_stack.sdk(project_key) as sdk:
        for _ in range(2):
            for model in (first, BASE_MODEL_ID, second):
                answers[model].append(chat(sdk, model))
                answers[model].append(chat_streamed(sdk, model))

    for model, texts in answers.items():
        assert len(set(texts)) == 1, (model, texts)  # stable, streamed or not
    assert len({texts[0] for texts in answers.values()}) == 3, answers


def test_raw_stream_is_openai_sse_ending_with_done(
    serving_stack: ServingStack, project_key: str
) -> None:
    model = serving_stack.publish(project_key, seed=1)
    body = {
        "model": model,
        "messages": MESSAGES,
        "max_tokens": 4,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    response = httpx.post(
        f"{serving_stack.api.base_url}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {project_key}"},
        timeout=60,
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [block for block in response.text.split("\n\n") if block]
    assert all(event.startswith("data: ") for event in events)
    assert events[-1] == "data: [DONE]"
    assert engine_adapter_name(model) not in response.text
    assert '"usage":{"prompt_tokens"' in events[-2]


def test_text_completions_with_an_adapter(serving_stack: ServingStack, project_key: str) -> None:
    model = serving_stack.publish(project_key, seed=3)

    with serving_stack.sdk(project_key) as sdk:
        tuned = sdk.completions.create(model=model, prompt="Hello", max_tokens=6, temperature=0)
        base = sdk.completions.create(
            model=BASE_MODEL_ID, prompt="Hello", max_tokens=6, temperature=0
        )
    # The SDK types a streamed chunk's finish_reason as non-null, but OpenAI (like vLLM) sends
    # null until the last chunk, so strict validation cannot read any legacy completion stream.
    with OpenAI(base_url=serving_stack.api.base_url, api_key=project_key, max_retries=0) as lax:
        chunks = list(
            lax.completions.create(
                model=model, prompt="Hello", max_tokens=6, temperature=0, stream=True
            )
        )

    assert tuned.model == model
    assert tuned.object == "text_completion"
    assert tuned.choices[0].finish_reason in ("stop", "length")
    assert tuned.choices[0].text == "".join(c.choices[0].text for c in chunks if c.choices)
    assert {c.model for c in chunks} == {model}
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert tuned.choices[0].text != base.choices[0].text


def test_a_model_published_while_serving_is_callable_at_once(
    serving_stack: ServingStack, project_key: str
) -> None:
    with serving_stack.sdk(project_key) as sdk:
        chat(sdk, BASE_MODEL_ID)  # the stack is serving
        engine_pid, agent_pid = serving_stack.engine.pid, serving_stack.agent.pid

        model = serving_stack.publish(project_key, seed=4)
        answer = chat(sdk, model)

    assert answer != ""
    assert (serving_stack.engine.pid, serving_stack.agent.pid) == (engine_pid, agent_pid)


def test_more_adapters_than_engine_slots_all_keep_answering(
    serving_stack: ServingStack, project_key: str
) -> None:
    models = [serving_stack.publish(project_key, seed=10 + i) for i in range(4)]
    first_answers: dict[str, str] = {}

    with serving_stack.sdk(project_key) as sdk:
        for round_number in range(3):
            for model in models:
                answer = chat(sdk, model)
                if round_number == 0:
                    first_answers[model] = answer
                assert answer == first_answers[model], (round_number, model)
                loaded = serving_stack.agent.state()["loaded"]
                assert isinstance(loaded, list)
                assert len(loaded) <= MAX_LOADED_ADAPTERS

    assert len(serving_stack.engine.model_ids()) <= 1 + MAX_LOADED_ADAPTERS
    assert len(set(first_answers.values())) > 1


def test_a_checkpoint_is_callable_by_its_name(
    serving_stack: ServingStack, project_key: str
) -> None:
    name = serving_stack.publish_checkpoint(project_key, seed=1, step=3)
    same_weights = serving_stack.publish(project_key, seed=1)

    with serving_stack.sdk(project_key) as sdk:
        assert name.endswith(":ckpt-step-3")
        assert chat(sdk, name) == chat(sdk, same_weights)


def test_another_projects_model_does_not_exist_for_it(
    serving_stack: ServingStack, project_key: str, request: pytest.FixtureRequest
) -> None:
    model = serving_stack.publish(project_key, seed=1)
    stranger_key = serving_stack.api.new_key(f"stranger-{request.node.name}"[:120])

    with serving_stack.sdk(stranger_key) as stranger:
        with pytest.raises(openai.NotFoundError) as on_chat:
            chat(stranger, model)
        with pytest.raises(openai.NotFoundError) as on_retrieve:
            stranger.models.retrieve(model)
        with pytest.raises(openai.NotFoundError) as on_delete:
            stranger.models.delete(model)

    assert on_chat.value.code == "model_not_found"
    assert on_chat.value.param == "model"  # type: ignore[attr-defined]
    assert f"The model '{model}' does not exist" in on_chat.value.message
    assert on_retrieve.value.code == on_delete.value.code == "model_not_found"
    with serving_stack.sdk(project_key) as owner:
        assert chat(owner, model) != ""


@pytest.mark.parametrize("route", ["load_lora_adapter", "unload_lora_adapter"])
def test_engine_admin_routes_are_not_reachable_through_the_api(
    serving_stack: ServingStack, project_key: str, route: str
) -> None:
    response = httpx.post(
        f"{serving_stack.api.base_url}/{route}",
        json={"lora_name": "x", "lora_path": "/etc"},
        headers={"authorization": f"Bearer {project_key}"},
        timeout=10,
    )

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_models_are_model_not_found(serving_stack: ServingStack, project_key: str) -> None:
    with serving_stack.sdk(project_key) as sdk:
        for model in ("ftapi/missing", f"ft:{BASE_MODEL_ID}:org::nothing", "ft:x:y::z:ckpt-step-1"):
            with pytest.raises(openai.NotFoundError) as raised:
                chat(sdk, model)
            assert raised.value.code == "model_not_found"


def test_unsupported_sampling_requests_are_refused_with_the_field_named(
    serving_stack: ServingStack, project_key: str
) -> None:
    with serving_stack.sdk(project_key) as sdk:
        with pytest.raises(openai.BadRequestError) as two_choices:
            sdk.chat.completions.create(model=BASE_MODEL_ID, messages=MESSAGES, n=2)  # type: ignore[arg-type]
        with pytest.raises(openai.BadRequestError) as unknown_field:
            sdk.chat.completions.create(
                model=BASE_MODEL_ID,
                messages=MESSAGES,  # type: ignore[arg-type]
                extra_body={"best_of": 3},
            )

    assert two_choices.value.param == "n"  # type: ignore[attr-defined]
    assert unknown_field.value.param == "best_of"  # type: ignore[attr-defined]


def test_a_deleted_model_is_gone_at_once_and_unloaded(
    serving_stack: ServingStack, project_key: str
) -> None:
    model = serving_stack.publish(project_key, seed=5)
    name = engine_adapter_name(model)

    with serving_stack.sdk(project_key) as sdk:
        chat(sdk, model)
        deleted = sdk.models.delete(model)
        with pytest.raises(openai.NotFoundError):
            chat(sdk, model)

    assert deleted.deleted is True
    assert_agent_drops(serving_stack, name)


def test_an_engine_restart_is_survived(serving_stack: ServingStack, project_key: str) -> None:
    model = serving_stack.publish(project_key, seed=6)
    with serving_stack.sdk(project_key) as sdk:
        before = chat(sdk, model)

        serving_stack.engine.kill()
        down = httpx.post(
            f"{serving_stack.api.base_url}/chat/completions",
            json={"model": model, "messages": MESSAGES, "max_tokens": 2},
            headers={"authorization": f"Bearer {project_key}"},
            timeout=30,
        )
        serving_stack.engine.start()
        serving_stack.engine.wait()
        after = chat(sdk, model)

    assert down.status_code == 503, down.text
    assert down.headers["retry-after"] == "5"
    assert down.json()["error"]["type"] == "service_unavailable"
    assert after == before
    # The new engine process knows the adapter only because the agent loaded it again.
    assert engine_adapter_name(model) in serving_stack.engine.model_ids()


@pytest.mark.parametrize("who", ["engine", "agent"])
def test_internal_servers_refuse_callers_without_their_key(
    serving_stack: ServingStack, project_key: str, who: str
) -> None:
    url = serving_stack.engine.url if who == "engine" else serving_stack.agent.url
    body = {"model": BASE_MODEL_ID, "messages": MESSAGES, "max_tokens": 2}

    without_key = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=10)
    with_a_tenant_key = httpx.post(
        f"{url}/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {project_key}"},
        timeout=10,
    )

    assert without_key.status_code == 401
    assert with_a_tenant_key.status_code == 401


@pytest.mark.parametrize(
    ("model", "prefix"),
    [
        ("ftm-" + "0" * 32, "../../etc/"),
        ("ftm-" + "0" * 32, "/absolute/"),
        ("../escape", "projects/p/models/m/"),
    ],
)
def test_the_agent_refuses_names_and_prefixes_that_could_escape_its_cache(
    serving_stack: ServingStack, model: str, prefix: str
) -> None:
    response = httpx.post(
        f"{serving_stack.agent.url}/v1/chat/completions",
        json={"model": model, "messages": MESSAGES},
        headers={
            "authorization": f"Bearer {serving_stack.agent.api_key}",
            "x-ftapi-adapter-prefix": prefix,
        },
        timeout=10,
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_agent_request"
