"""An output item's ``sample``, always in the SDK's full ``Sample`` shape (strict clients require
every field): what was sent, what came back, with which parameters, and any error.

A JSONL row's given sample (or a row that could not be read) has no model, parameters or usage:
those are empty or zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.evals.model_calls import ChatAnswer, SamplingParams
from service.graders.samples import GradedSample

NO_ERROR = {"code": "", "message": ""}


def graded_sample_of(given: Mapping[str, Any] | None) -> GradedSample:
    """What graders see of a JSONL row's sample (``output_text``, ``output_json``)."""
    if given is None:
        return GradedSample(output_text="")
    text = given.get("output_text")
    if not isinstance(text, str):
        return GradedSample(output_text="", output_json=given.get("output_json"))
    if "output_json" in given:
        return GradedSample(output_text=text, output_json=given["output_json"])
    return GradedSample.of_text(text)


def given_sample(graded: GradedSample) -> dict[str, Any]:
    """The stored sample of a JSONL row."""
    return _sample(
        input_messages=[],
        output_text=graded.output_text,
        model="",
        finish_reason="",
        prompt_tokens=0,
        completion_tokens=0,
        params=None,
        error=NO_ERROR,
    )


def answered_sample(
    model: str,
    messages: Sequence[Mapping[str, str]],
    params: SamplingParams,
    answer: ChatAnswer,
) -> dict[str, Any]:
    """The stored sample of a completions run's answered item."""
    return _sample(
        input_messages=messages,
        output_text=answer.text,
        model=model,
        finish_reason=answer.finish_reason,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        params=params,
        error=NO_ERROR,
    )


def failed_sample(
    code: str,
    message: str,
    *,
    model: str = "",
    messages: Sequence[Mapping[str, str]] = (),
    params: SamplingParams | None = None,
) -> dict[str, Any]:
    """The stored sample of an item that could not be sampled (or read)."""
    return _sample(
        input_messages=messages,
        output_text=None,
        model=model,
        finish_reason="",
        prompt_tokens=0,
        completion_tokens=0,
        params=params,
        error={"code": code, "message": message},
    )


def _sample(
    *,
    input_messages: Sequence[Mapping[str, str]],
    output_text: str | None,
    model: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    params: SamplingParams | None,
    error: Mapping[str, str],
) -> dict[str, Any]:
    temperature, top_p = _sampling_defaults(params)
    return {
        "input": [{"role": m["role"], "content": m["content"]} for m in input_messages],
        "output": [] if output_text is None else [{"role": "assistant", "content": output_text}],
        "model": model,
        "finish_reason": finish_reason,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "cached_tokens": 0,
        },
        "error": dict(error),
        "seed": 0 if params is None else params.seed or 0,
        "temperature": temperature,
        "top_p": top_p,
        "max_completion_tokens": 0 if params is None else params.max_tokens or 0,
    }


def _sampling_defaults(params: SamplingParams | None) -> tuple[float, float]:
    # No model sampled (a given sample, an unreadable row): zeros. Sampled: the values the
    # engine used, OpenAI's defaults (1.0) where the run left them unset.
    if params is None:
        return 0.0, 0.0
    temperature = 1.0 if params.temperature is None else params.temperature
    return temperature, 1.0 if params.top_p is None else params.top_p
