"""Pure parts of a run's execution: reading JSONL rows from chunks, the report's tally, the
rendered prompt, and the stored sample's shape (checked against the SDK's ``Sample``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai.types.evals.runs.output_item_retrieve_response import Sample

from service.evals.data_sources import InputMessagesTemplate, parse_data_source
from service.evals.execution import sources
from service.evals.execution.prompts import PromptProblem, PromptTemplate
from service.evals.execution.samples import answered_sample, failed_sample, given_sample
from service.evals.execution.sources import RunSource, SourceRow
from service.evals.execution.tally import RunTally
from service.evals.item_schema import CustomConfig, ItemSchema
from service.evals.model_calls import ChatAnswer, SamplingParams
from service.evals.records import CriterionResult, ModelUsage, OutputItemStatus, ResultCounts
from service.graders.samples import GradedSample

SCHEMA = ItemSchema(
    CustomConfig(
        {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        include_sample_schema=False,
    )
)


def _read(chunks: list[bytes]) -> list[SourceRow]:
    async def stream(_: str) -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    source = parse_data_source({"type": "jsonl", "source": {"type": "file_id", "id": "file-x"}})
    run_source = RunSource(source, SCHEMA, stream)

    async def collect() -> tuple[int, list[SourceRow]]:
        return await run_source.count(), [row async for row in run_source.rows()]

    count, rows = asyncio.run(collect())
    assert count == len(rows)
    return rows


@pytest.mark.parametrize("chunk_bytes", [1, 3, 7, 1000])
def test_rows_are_the_same_however_the_file_is_chunked(chunk_bytes: int) -> None:
    body = (
        b'{"item": {"q": "a"}, "sample": {"output_text": "x"}}\n'
        b"\n"
        b'{"q": "bare"}\r\n'
        b"[1, 2]\n"
        b'{"item": {"q": 3}}\n'
        b'{"item": {"q": "last"}}'  # no final newline
    )
    chunks = [body[i : i + chunk_bytes] for i in range(0, len(body), chunk_bytes)]

    rows = _read(chunks)

    assert [row.index for row in rows] == [0, 1, 2, 3, 4]
    assert rows[0] == SourceRow(0, {"q": "a"}, {"output_text": "x"})
    assert rows[1] == SourceRow(1, {"q": "bare"})
    assert rows[2].problem == "a row must be a JSON object"
    assert rows[3].problem is not None
    assert "item schema" in rows[3].problem
    assert rows[4] == SourceRow(4, {"q": "last"})


def test_a_line_too_long_is_one_error_row_and_the_next_line_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sources, "MAX_LINE_BYTES", 16)
    body = b'{"q": "' + b"x" * 40 + b'"}\n{"q": "ok"}\n'

    rows = _read([body[i : i + 5] for i in range(0, len(body), 5)])

    assert [row.problem is None for row in rows] == [False, True]
    assert rows[0].problem is not None
    assert "longer than" in rows[0].problem
    assert rows[1] == SourceRow(1, {"q": "ok"})


def _result(passed: bool, *, error: bool = False, usage: dict[str, Any] | None = None) -> Any:
    return {
        "name": "c",
        "passed": passed,
        "score": 1.0 if passed else 0.0,
        "metadata": {"errors": {"model_grader_server_error": error, "details": None}},
        "model_token_usage": usage or {},
    }


def test_the_tally_counts_items_criteria_and_models() -> None:
    tally = RunTally(["first", "second"])
    sampled = answered_sample(
        "m", [{"role": "user", "content": "hi"}], SamplingParams(), ChatAnswer("yo", "stop", 3, 1)
    )
    judge = {
        "judge": {
            "invocation_count": 1,
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "total_tokens": 12,
        }
    }
    tally.add(OutputItemStatus.PASS, sampled, [_result(True), _result(True, usage=judge)])
    tally.add(OutputItemStatus.FAIL, sampled, [_result(True), _result(False, usage=judge)])
    tally.add(OutputItemStatus.ERROR, sampled, [_result(False, error=True), _result(False)])
    tally.add(OutputItemStatus.ERROR, failed_sample("model_error", "down", model="m"), [])

    assert tally.result_counts() == ResultCounts(total=4, passed=1, failed=1, errored=2)
    assert tally.criteria_results() == (
        CriterionResult("first", passed=2, failed=0),  # the errored result is neither
        CriterionResult("second", passed=1, failed=2),
    )
    assert tally.model_usage() == (
        ModelUsage(
            "judge", invocation_count=2, prompt_tokens=20, completion_tokens=4, total_tokens=24
        ),
        ModelUsage("m", invocation_count=3, prompt_tokens=9, completion_tokens=3, total_tokens=12),
    )


def test_prompts_render_items_and_name_a_missing_variable() -> None:
    template = InputMessagesTemplate.model_validate(
        {
            "type": "template",
            "template": [
                {"role": "developer", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Q: {{item.q}} "},
                        {"type": "input_text", "text": "{{item.meta}}"},
                    ],
                },
            ],
        }
    )
    prompt = PromptTemplate(template)

    assert prompt.render({"q": "why?", "meta": {"n": 1}}) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": 'Q: why? {"n": 1}'},
    ]
    with pytest.raises(PromptProblem, match=r"item\.meta"):
        prompt.render({"q": "why?"})


@pytest.mark.parametrize(
    "sample",
    [
        given_sample(GradedSample.of_text("4")),
        answered_sample(
            "m",
            [{"role": "user", "content": "2+2"}],
            SamplingParams(max_tokens=5, temperature=0.0, seed=7),
            ChatAnswer("4", "length", 4, 5),
        ),
        failed_sample("invalid_item", "the line is not valid JSON"),
    ],
)
def test_every_stored_sample_is_a_full_sdk_sample(sample: dict[str, Any]) -> None:
    parsed = Sample.model_validate(json.loads(json.dumps(sample)))
    assert parsed.model_dump() == sample
