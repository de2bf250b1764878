"""Logprobs in vLLM's shapes, named by text or by ``token_id:{id}``."""

from __future__ import annotations

from openai.types import CompletionChoice
from openai.types.chat.chat_completion import ChoiceLogprobs

from gpu_runner.engine.generation import TokenScored
from gpu_runner.engine.logprobs import chat_logprobs, completion_logprobs, token_namer

SCORED = [
    TokenScored(7, -0.25, ((7, -0.25), (3, -1.5))),
    TokenScored(3, -2.0, ((9, -0.5), (3, -2.0))),  # sampled, not the most likely
]
TEXT = {7: "Hi", 3: " there", 9: "!"}


def test_completion_logprobs_have_openais_legacy_shape_with_the_chosen_token_in_top() -> None:
    body = completion_logprobs(SCORED, token_namer(TEXT.__getitem__, as_token_ids=False))
    assert body == {
        "text_offset": [0, 2],
        "token_logprobs": [-0.25, -2.0],
        "tokens": ["Hi", " there"],
        "top_logprobs": [{"Hi": -0.25, " there": -1.5}, {"!": -0.5, " there": -2.0}],
    }
    choice = {"index": 0, "text": "Hi there", "finish_reason": "length", "logprobs": body}
    CompletionChoice.model_validate(choice)


def test_token_ids_name_tokens_when_asked() -> None:
    body = completion_logprobs(SCORED[:1], token_namer(TEXT.__getitem__, as_token_ids=True))
    assert body["tokens"] == ["token_id:7"]
    assert body["top_logprobs"] == [{"token_id:7": -0.25, "token_id:3": -1.5}]


def test_chat_logprobs_have_openais_shape() -> None:
    body = chat_logprobs(SCORED, token_namer(TEXT.__getitem__, as_token_ids=False))
    parsed = ChoiceLogprobs.model_validate(body)
    assert parsed.content is not None
    assert [item.token for item in parsed.content] == ["Hi", " there"]
    assert parsed.content[1].bytes == list(b" there")
    assert [top.token for top in parsed.content[1].top_logprobs] == ["!", " there"]
