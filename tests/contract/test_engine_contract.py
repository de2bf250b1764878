"""The HTTP contract ftapi relies on, identical for ``ftapi engine`` and vLLM.

Admin routes and errors are checked with raw HTTP (plain-text success bodies, the nested error
envelope, status codes); inference goes through the official SDK in strict mode. Outputs are
compared with each other, never with fixed text: adapters change greedy output, greedy and
seeded requests repeat, streams join up to the whole answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types import Completion
from openai.types.chat import ChatCompletion

from service.models.parity_probes import (
    DEFAULT_LOGPROB_ATOL,
    PROBE_MAX_TOKENS,
    PROBE_PROMPTS,
    ProbeKind,
    ProbeObservation,
    ProbePrompt,
)
from service.serving.agent.parity import chat_observation, completion_observation, probe_request
from tests.contract.adapters import AdapterDir, AdapterFactory
from tests.contract.conftest import ContractTarget, LoadAdapter

MESSAGES: list[Any] = [{"role": "user", "content": "Hello! What is the capital of France?"}]
PROMPT = "The capital of France is"
MAX_TOKENS = 8
# Generate exactly MAX_TOKENS tokens: a random model may otherwise stop at once, with empty text.
NO_EOS: dict[str, Any] = {"ignore_eos": True}
# vLLM main answers an adapter its engine refuses with 500 InternalServerError (the
# `load_lora_adapter` handler maps every engine error but "No adapter found" to 500); the
# releases in the reference, and ftapi engine, answer 400 BadRequestError.
REJECTED_LOCAL = {400}
REJECTED_REMOTE = {400, 500}


def model_cards(http: httpx.Client) -> dict[str, dict[str, Any]]:
    """``GET /v1/models`` by id."""
    response = http.get("/v1/models")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    return {card["id"]: card for card in body["data"]}


def assert_engine_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """vLLM's error envelope ``{"error": {message, type, param, code}}``; the inner object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["type"], str)
    assert "param" in error
    assert error["code"] == status
    return dict(error)


def chat_text(sdk: OpenAI, model: str, **options: Any) -> str:
    """Greedy chat answer of ``model`` (``options`` override the defaults)."""
    arguments: dict[str, Any] = {
        "model": model,
        "messages": MESSAGES,
        "temperature": 0,
        "max_completion_tokens": MAX_TOKENS,
        "extra_body": NO_EOS,
    }
    completion = sdk.chat.completions.create(**(arguments | options))
    content = completion.choices[0].message.content
    assert content is not None
    return content


def sse_payloads(http: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """POST a streaming request; check it is only ``data:`` events ending with ``[DONE]``."""
    with http.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"
    return [json.loads(line.removeprefix("data: ")) for line in events[:-1]]


def load(http: httpx.Client, name: str, path: str, **extra: Any) -> httpx.Response:
    """``POST /v1/load_lora_adapter``."""
    return http.post("/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path} | extra)


# -- health and models ---------------------------------------------------------------------------


def test_health_answers_200(engine_http: httpx.Client) -> None:
    assert engine_http.get("/health").status_code == 200


def test_models_list_has_one_base_card(
    engine_http: httpx.Client, contract_target: ContractTarget
) -> None:
    cards = model_cards(engine_http)
    base = cards[contract_target.base_model]
    assert base["object"] == "model"
    assert base["parent"] is None
    assert isinstance(base["root"], str)
    assert isinstance(base["created"], int)
    assert [card for card in cards.values() if card["parent"] is None] == [base]


# -- load and unload -----------------------------------------------------------------------------


def test_load_lists_the_adapter_and_unload_removes_it(
    engine_http: httpx.Client,
    contract_target: ContractTarget,
    adapter_by_seed: Callable[[int], AdapterDir],
) -> None:
    adapter = adapter_by_seed(1)
    name = "contract-load-unload"
    assert name not in model_cards(engine_http)

    loaded = load(engine_http, name, adapter.server_path)
    assert loaded.status_code == 200, loaded.text
    assert loaded.text == f"Success: LoRA adapter '{name}' added successfully."
    assert not loaded.headers.get("content-type", "").startswith("application/json")
    card = model_cards(engine_http)[name]
    assert card["parent"] == contract_target.base_model
    assert card["root"] == adapter.server_path
    assert card["object"] == "model"

    unloaded = engine_http.post("/v1/unload_lora_adapter", json={"lora_name": name})
    assert unloaded.status_code == 200, unloaded.text
    assert unloaded.text == f"Success: LoRA adapter '{name}' removed successfully."
    assert name not in model_cards(engine_http)


def test_loading_a_loaded_name_is_400_unless_in_place(
    engine_http: httpx.Client,
    adapter_by_seed: Callable[[int], AdapterDir],
    load_adapter: LoadAdapter,
) -> None:
    adapter = adapter_by_seed(1)
    name = load_adapter(adapter)

    again = load(engine_http, name, adapter.server_path)
    error = assert_engine_error(again, 400)
    assert "already been loaded" in error["message"]

    in_place = load(engine_http, name, adapter_by_seed(2).server_path, load_inplace=True)
    assert in_place.status_code == 200, in_place.text
    assert model_cards(engine_http)[name]["root"] == adapter_by_seed(2).server_path


@pytest.mark.parametrize(
    "body", [{"lora_name": "contract-no-path"}, {"lora_path": "/nowhere"}, {}], ids=str
)
def test_load_without_name_or_path_is_400(engine_http: httpx.Client, body: dict[str, str]) -> None:
    assert_engine_error(engine_http.post("/v1/load_lora_adapter", json=body), 400)


def test_load_from_a_missing_path_is_404(
    engine_http: httpx.Client, contract_target: ContractTarget
) -> None:
    missing = f"{contract_target.server_adapter_dir or contract_target.adapter_dir}/not-there"
    response = load(engine_http, "contract-missing", missing)
    error = assert_engine_error(response, 404)
    assert "No adapter found" in error["message"]
    assert "contract-missing" not in model_cards(engine_http)


@pytest.mark.parametrize(
    "variant",
    ["dora", "modules_to_save", "rank_above_max"],
)
def test_unservable_adapters_are_refused(
    engine_http: httpx.Client,
    contract_target: ContractTarget,
    adapter_factory: AdapterFactory,
    variant: str,
) -> None:
    options: dict[str, Any] = {
        "dora": {"use_dora": True},
        "modules_to_save": {"modules_to_save": ["lm_head"]},
        "rank_above_max": {"rank": contract_target.max_lora_rank * 2},
    }[variant]
    adapter = adapter_factory.make(seed=3, **options)
    name = f"contract-refused-{variant}"
    response = load(engine_http, name, adapter.server_path)
    statuses = REJECTED_LOCAL if contract_target.is_local else REJECTED_REMOTE
    assert response.status_code in statuses, response.text
    assert_engine_error(response, response.status_code)
    assert name not in model_cards(engine_http)


def test_unload_of_an_unknown_name_is_404(engine_http: httpx.Client) -> None:
    response = engine_http.post("/v1/unload_lora_adapter", json={"lora_name": "contract-never"})
    assert "cannot be found" in assert_engine_error(response, 404)["message"]


# -- chat and completions ------------------------------------------------------------------------


def test_chat_answers_from_the_base_and_from_an_adapter(
    sdk: OpenAI,
    contract_target: ContractTarget,
    adapter_by_seed: Callable[[int], AdapterDir],
    load_adapter: LoadAdapter,
) -> None:
    name = load_adapter(adapter_by_seed(1))
    base = sdk.chat.completions.create(
        model=contract_target.base_model,
        messages=MESSAGES,
        temperature=0,
        max_tokens=MAX_TOKENS,
        extra_body=NO_EOS,
    )
    assert base.model == contract_target.base_model
    assert base.object == "chat.completion"
    choice = base.choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "length"
    assert base.usage is not None
    assert base.usage.completion_tokens == MAX_TOKENS
    assert base.usage.prompt_tokens > 0
    assert base.usage.total_tokens == base.usage.prompt_tokens + MAX_TOKENS

    adapted = sdk.chat.completions.create(
        model=name, messages=MESSAGES, temperature=0, max_tokens=MAX_TOKENS, extra_body=NO_EOS
    )
    assert adapted.model == name
    assert adapted.choices[0].message.content != choice.message.content
    # Greedy decoding repeats itself, for the adapter and for the base interleaved with it.
    assert chat_text(sdk, name) == adapted.choices[0].message.content
    assert chat_text(sdk, contract_target.base_model) == choice.message.content


def test_seeded_sampling_repeats(sdk: OpenAI, contract_target: ContractTarget) -> None:
    first = chat_text(sdk, contract_target.base_model, temperature=1.0, top_p=0.9, seed=1234)
    again = chat_text(sdk, contract_target.base_model, temperature=1.0, top_p=0.9, seed=1234)
    assert first == again


def test_chat_stream_is_well_formed_and_matches_the_whole_answer(
    sdk: OpenAI,
    engine_http: httpx.Client,
    adapter_by_seed: Callable[[int], AdapterDir],
    load_adapter: LoadAdapter,
) -> None:
    name = load_adapter(adapter_by_seed(1))
    whole = chat_text(sdk, name)
    stream = sdk.chat.completions.create(
        model=name,
        messages=MESSAGES,
        temperature=0,
        max_completion_tokens=MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
        extra_body=NO_EOS,
    )
    chunks = list(stream)
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk.id for chunk in chunks}) == 1
    with_choices = [chunk for chunk in chunks if chunk.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in with_choices) == whole
    finished = [chunk.choices[0].finish_reason for chunk in with_choices]
    assert finished[-1] == "length"
    assert finished.count(None) == len(finished) - 1
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == MAX_TOKENS

    body = {"model": name, "messages": MESSAGES, "temperature": 0, "max_tokens": MAX_TOKENS}
    payloads = sse_payloads(engine_http, "/v1/chat/completions", body | {"stream": True} | NO_EOS)
    assert {payload["object"] for payload in payloads} == {"chat.completion.chunk"}


def test_completions_whole_and_streamed(
    sdk: OpenAI,
    engine_http: httpx.Client,
    contract_target: ContractTarget,
    adapter_by_seed: Callable[[int], AdapterDir],
    load_adapter: LoadAdapter,
) -> None:
    name = load_adapter(adapter_by_seed(2))
    texts = {}
    for model in (contract_target.base_model, name):
        whole = sdk.completions.create(
            model=model, prompt=PROMPT, temperature=0, max_tokens=MAX_TOKENS, extra_body=NO_EOS
        )
        assert whole.object == "text_completion"
        assert whole.model == model
        assert whole.choices[0].finish_reason == "length"
        assert whole.usage is not None
        assert whole.usage.completion_tokens == MAX_TOKENS
        # Raw SSE here: the SDK types a streamed choice's finish_reason as never null, so strict
        # mode refuses every chunk but the last (OpenAI's own streams included).
        body = {"model": model, "prompt": PROMPT, "temperature": 0, "max_tokens": MAX_TOKENS}
        chunks = sse_payloads(engine_http, "/v1/completions", body | {"stream": True} | NO_EOS)
        assert {chunk["object"] for chunk in chunks} == {"text_completion"}
        streamed_text = "".join(chunk["choices"][0]["text"] for chunk in chunks)
        assert streamed_text == whole.choices[0].text
        reasons = [chunk["choices"][0]["finish_reason"] for chunk in chunks]
        assert reasons[-1] == "length"
        assert reasons.count(None) == len(reasons) - 1
        texts[model] = whole.choices[0].text
    assert texts[name] != texts[contract_target.base_model]


def test_a_stop_string_ends_the_answer_before_it(
    sdk: OpenAI, contract_target: ContractTarget
) -> None:
    free = (
        sdk.completions.create(
            model=contract_target.base_model,
            prompt=PROMPT,
            temperature=0,
            max_tokens=MAX_TOKENS,
            extra_body=NO_EOS,
        )
        .choices[0]
        .text
    )
    # A stop string taken from inside the free answer: the answer must end right before it.
    starts = [
        index
        for index in range(1, len(free) - 1)
        if free[index : index + 2].isascii() and free[index : index + 2].isprintable()
    ]
    if not starts:
        pytest.skip(f"the base model's answer {free!r} has no two printable ASCII characters")
    start = starts[0]
    stop = free[start : start + 2]
    cut = sdk.completions.create(
        model=contract_target.base_model,
        prompt=PROMPT,
        temperature=0,
        max_tokens=MAX_TOKENS,
        stop=[stop],
        extra_body=NO_EOS,
    ).choices[0]
    assert cut.text == free[: free.index(stop)]
    assert cut.finish_reason == "stop"


def test_unknown_model_is_404(
    sdk: OpenAI, engine_http: httpx.Client, contract_target: ContractTarget
) -> None:
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="contract-nobody", messages=MESSAGES, max_tokens=2)
    for path, body in (
        ("/v1/chat/completions", {"messages": MESSAGES}),
        ("/v1/completions", {"prompt": PROMPT}),
    ):
        response = engine_http.post(path, json={"model": "contract-nobody", "max_tokens": 2} | body)
        error = assert_engine_error(response, 404)
        assert error["message"] == "The model `contract-nobody` does not exist."
        assert error["param"] == "model"
        assert error["type"] == "NotFoundError"


def test_an_unloaded_adapter_is_404_at_once(
    sdk: OpenAI,
    engine_http: httpx.Client,
    adapter_by_seed: Callable[[int], AdapterDir],
    load_adapter: LoadAdapter,
) -> None:
    name = load_adapter(adapter_by_seed(1))
    chat_text(sdk, name)
    assert engine_http.post("/v1/unload_lora_adapter", json={"lora_name": name}).status_code == 200
    with pytest.raises(openai.NotFoundError):
        chat_text(sdk, name)


# -- more adapters than the engine keeps loaded ----------------------------------------------------


def test_more_adapters_than_slots_all_answer_correctly_round_robin(
    sdk: OpenAI,
    engine_http: httpx.Client,
    contract_target: ContractTarget,
    adapter_by_seed: Callable[[int], AdapterDir],
    load_adapter: LoadAdapter,
) -> None:
    """Four adapters on an engine that keeps two loaded (locally: --max-cpu-loras 2).

    Each adapter's answer alone (loaded, called, unloaded) is the reference; then all four are
    registered and called round-robin twice, so that each call evicts one and re-reads another.
    """
    adapters = [adapter_by_seed(seed) for seed in (11, 12, 13, 14)]
    expected = []
    for adapter in adapters:
        name = load_adapter(adapter)
        expected.append(chat_text(sdk, name))
        engine_http.post("/v1/unload_lora_adapter", json={"lora_name": name})
    base = chat_text(sdk, contract_target.base_model)
    assert len({*expected, base}) == len(adapters) + 1, "every adapter answers differently"

    names = [load_adapter(adapter) for adapter in adapters]
    assert set(names) <= set(model_cards(engine_http))  # all stay registered
    for _ in range(2):
        for name, answer in zip(names, expected, strict=True):
            assert chat_text(sdk, name) == answer
    assert chat_text(sdk, contract_target.base_model) == base


@pytest.mark.parametrize("prompt", PROBE_PROMPTS, ids=[prompt.name for prompt in PROBE_PROMPTS])
def test_parity_probes_answer_token_ids_and_logprobs_that_repeat(
    engine_http: httpx.Client,
    contract_target: ContractTarget,
    adapter_by_seed: Callable[[int], AdapterDir],
    load_adapter: LoadAdapter,
    prompt: ProbePrompt,
) -> None:
    """The agent's parity check asks exactly this (``probe_request``) and reads the answer with
    its own parsers: greedy token ids (vLLM's ``return_tokens_as_token_ids``) and logprobs, in
    OpenAI's shapes, the same on a repeat, and different under an adapter."""
    name = load_adapter(adapter_by_seed(1))
    seen: dict[str, ProbeObservation] = {}
    for model in (contract_target.base_model, name):
        route, payload = probe_request(model, prompt, PROBE_MAX_TOKENS)
        observations = []
        for _ in range(2):
            response = engine_http.post(route, json=payload)
            assert response.status_code == 200, response.text
            body = response.json()
            if prompt.kind is ProbeKind.COMPLETION:
                Completion.model_validate(body)
                top = body["choices"][0]["logprobs"]["top_logprobs"]
                chosen = body["choices"][0]["logprobs"]["tokens"]
                # At temperature 0 the chosen token is the most likely one.
                assert chosen == [max(entry, key=entry.get) for entry in top]
                observations.append(completion_observation(body))
            else:
                ChatCompletion.model_validate(body)
                content = body["choices"][0]["logprobs"]["content"]
                assert [item["token"] for item in content] == [
                    item["top_logprobs"][0]["token"] for item in content
                ]
                observations.append(chat_observation(body))
        first, again = observations
        assert len(first.token_ids) == PROBE_MAX_TOKENS
        assert all(math.isfinite(value) and value <= 0 for value in first.logprobs)
        assert again.token_ids == first.token_ids
        assert all(
            abs(a - b) <= DEFAULT_LOGPROB_ATOL
            for a, b in zip(first.logprobs, again.logprobs, strict=True)
        )
        seen[model] = first
    assert seen[name] != seen[contract_target.base_model]
