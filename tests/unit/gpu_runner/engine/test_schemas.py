"""Request bodies: vLLM's extras accepted, unknown fields ignored, unsupported ones named."""

from __future__ import annotations

import json

import pytest

from gpu_runner.engine.errors import BadRequestError
from gpu_runner.engine.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    LoadLoRAAdapterRequest,
    parse_body,
)

MESSAGES = [{"role": "user", "content": "hi"}]


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_unknown_fields_are_ignored_and_extras_read() -> None:
    request = parse_body(
        ChatCompletionRequest,
        body(messages=MESSAGES, top_k=5, ignore_eos=True, user="u", guided_json={}),
    )
    assert request.top_k == 5
    assert request.ignore_eos is True


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    request = parse_body(
        ChatCompletionRequest, body(messages=MESSAGES, max_tokens=9, max_completion_tokens=3)
    )
    assert request.output_limit == 3


def test_stop_may_be_one_string_or_several() -> None:
    assert parse_body(CompletionRequest, body(prompt="a", stop="x")).stop_strings == ("x",)
    assert parse_body(CompletionRequest, body(prompt="a", stop=["x", ""])).stop_strings == ("x",)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"messages": MESSAGES, "n": 2}, "n"),
        ({"messages": MESSAGES, "stream_options": {"include_usage": True}}, "stream_options"),
        ({"messages": MESSAGES, "logprobs": True, "stream": True}, "logprobs"),
        ({"messages": MESSAGES, "top_logprobs": 2}, "top_logprobs"),
        ({"messages": MESSAGES, "logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"messages": MESSAGES, "temperature": -1}, "temperature"),
        ({"messages": MESSAGES, "top_p": 0}, "top_p"),
        ({"messages": []}, "messages"),
        ({"messages": MESSAGES, "max_tokens": 0}, "max_tokens"),
    ],
)
def test_bad_chat_fields_name_their_param(fields: dict[str, object], param: str) -> None:
    with pytest.raises(BadRequestError) as excinfo:
        parse_body(ChatCompletionRequest, json.dumps(fields).encode())
    assert excinfo.value.param == param
    assert excinfo.value.status == 400


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": ["a", "b"]},
        {"prompt": []},
        {"prompt": "a", "echo": True},
        {"prompt": "a", "suffix": "z"},
        {"prompt": "a", "logprobs": 1, "stream": True},
        {"prompt": "a", "logprobs": 21},
    ],
)
def test_what_completions_cannot_do_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(BadRequestError):
        parse_body(CompletionRequest, json.dumps(fields).encode())


def test_token_id_prompts_are_accepted() -> None:
    assert parse_body(CompletionRequest, body(prompt=[1, 2, 3])).prompt == [1, 2, 3]


@pytest.mark.parametrize("raw", [b"{", b"[1]", b"\xff"])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(BadRequestError):
        parse_body(LoadLoRAAdapterRequest, raw)


def test_admin_fields_default_to_empty_so_the_engine_words_the_error() -> None:
    request = parse_body(LoadLoRAAdapterRequest, b"{}")
    assert (request.lora_name, request.lora_path, request.load_inplace) == ("", "", False)


def test_logprobs_ask_for_alternatives_per_token() -> None:
    completion = parse_body(CompletionRequest, body(prompt="a", logprobs=0))
    assert completion.top_count == 0
    assert parse_body(CompletionRequest, body(prompt="a")).top_count is None
    chat = parse_body(ChatCompletionRequest, body(messages=MESSAGES, logprobs=True, top_logprobs=3))
    assert chat.top_count == 3
    assert parse_body(ChatCompletionRequest, body(messages=MESSAGES)).top_count is None
