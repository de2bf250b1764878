"""Eval runs executed by a real ctl worker, read back through the SDK in strict mode.

One stack for the module: the api (uvicorn), a ctl worker and Redis, on SQLite and the local
blob store. Its inference gateway points at a ``ChatStub`` standing in for an adapter agent
(base models ``stub/echo``, ``stub/down`` and ``stub/hang`` in the registry), and its grader
endpoint at a second stub serving the grader model ``judge``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from tests.support.eval_runs import (
    ChatStub,
    all_output_items,
    chat_stub,
    eval_stack_config,
    sdk,
    task_tries,
    wait_for_run,
    wait_until,
)
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, write_registry

STUB_MODELS = ("stub/echo", "stub/down", "stub/hang")
PER_RUN_LIMIT = 3
MODEL_CALL_TIMEOUT_S = 3  # held samples outlast no test step; a hung model costs this
QA_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}
EXACT = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
MENTIONS = {
    "type": "string_check",
    "name": "mentions",
    "input": "{{sample.output_text}}",
    "reference": "4",
    "operation": "like",
}


@dataclass
class EvalStack:
    api: ApiServer
    agent: ChatStub  # behind the inference gateway
    judge: ChatStub  # the operator's grader endpoint

    def client(self, name: str) -> OpenAI:
        return sdk(self.api.base_url, self.api.new_key(name))


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[EvalStack]:
    root = tmp_path_factory.mktemp("eval-runs")
    registry = root / "models.toml"
    write_registry(registry, dict.fromkeys(STUB_MODELS, root))
    with chat_stub() as agent, chat_stub() as judge:
        config = eval_stack_config(
            root / "stack",
            redis_server.new_database_url(),
            FTAPI_MODELS__REGISTRY_PATH=str(registry),
            FTAPI_SERVING__AGENT_URLS=json.dumps([agent.agent_url]),
            FTAPI_EVALS__GRADER_BASE_URL=judge.base_url,
            FTAPI_EVALS__GRADER_MODELS=json.dumps(["judge"]),
            FTAPI_EVALS__MAX_CONCURRENT_SAMPLES_PER_RUN=str(PER_RUN_LIMIT),
            FTAPI_EVALS__MAX_RUNNING_RUNS_PER_PROJECT="1",
            FTAPI_EVALS__MODEL_CALL_TIMEOUT_S=str(MODEL_CALL_TIMEOUT_S),
            FTAPI_EVALS__BUSY_RETRY_S="0.2",
        )
        with ApiServer(config) as api:
            yield EvalStack(api, agent, judge)


def _qa_eval(client: OpenAI, criteria: list[Any]) -> str:
    return client.evals.create(
        name="qa",
        data_source_config={
            "type": "custom",
            "item_schema": QA_SCHEMA,
            "include_sample_schema": True,
        },
        testing_criteria=criteria,
    ).id


def _jsonl(rows: list[dict[str, Any]]) -> Any:
    return {"type": "jsonl", "source": {"type": "file_content", "content": rows}}


def _completions(model: str, questions: list[str], **sampling: Any) -> Any:
    return {
        "type": "completions",
        "model": model,
        "input_messages": {
            "type": "template",
            "template": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "{{item.question}}"},
            ],
        },
        "sampling_params": {"temperature": 0, "max_completion_tokens": 16, **sampling},
        "source": {
            "type": "file_content",
            "content": [{"item": {"question": q, "answer": q}} for q in questions],
        },
    }


def test_a_jsonl_run_grades_every_item_and_reports_per_criterion(stack: EvalStack) -> None:
    client = stack.client("jsonl")
    eval_id = _qa_eval(client, [EXACT, MENTIONS])
    rows = [
        {
            "item": {"question": f"2+2, take {i}", "answer": "4"},
            # 15 right answers; 5 wrong ones, of which 2 still mention a 4
            "sample": {"output_text": "4" if i < 15 else ("14" if i < 17 else "five")},
        }
        for i in range(20)
    ]
    run = client.evals.runs.create(
        eval_id,
        name="given samples",
        data_source=_jsonl(rows),
    )
    assert run.status == "queued"

    done = wait_for_run(client, eval_id, run.id)

    assert done.status == "completed", done.error
    counts = done.result_counts
    assert (counts.total, counts.passed, counts.failed, counts.errored) == (20, 15, 5, 0)
    by_name = {r.testing_criteria: (r.passed, r.failed) for r in done.per_testing_criteria_results}
    assert by_name == {"exact": (15, 5), "mentions": (17, 3)}
    assert done.per_model_usage == []  # given samples: no model was called
    items = all_output_items(client, eval_id, run.id)
    assert sorted(item.datasource_item_id for item in items) == list(range(20))
    for item in items:
        i = item.datasource_item_id
        assert item.datasource_item == rows[i]["item"]
        assert item.status == ("pass" if i < 15 else "fail")
        assert item.sample.output[0].content == rows[i]["sample"]["output_text"]
        assert [(r.name, r.passed, r.score) for r in item.results] == [
            ("exact", i < 15, 1.0 if i < 15 else 0.0),
            ("mentions", i < 17, 1.0 if i < 17 else 0.0),
        ]
    failed = client.evals.runs.output_items.list(run.id, eval_id=eval_id, status="fail")
    assert sorted(item.datasource_item_id for item in failed) == list(range(15, 20))


def test_a_jsonl_file_is_read_row_by_row_and_bad_rows_are_error_items(
    stack: EvalStack, tmp_path: Path
) -> None:
    client = stack.client("jsonl-file")
    eval_id = _qa_eval(client, [EXACT])
    lines = [
        json.dumps({"item": {"question": "q0", "answer": "a"}, "sample": {"output_text": "a"}}),
        json.dumps({"question": "q1", "answer": "b"}),  # a bare item: no sample
        "{not json",
        json.dumps({"item": {"question": "q3"}, "sample": {"output_text": "c"}}),  # no answer
        "",  # blank lines are not rows
        json.dumps({"item": {"question": "q4", "answer": "d"}, "sample": {"output_text": "x"}}),
    ]
    upload = client.files.create(
        file=("rows.jsonl", ("\n".join(lines) + "\n").encode()), purpose="user_data"
    )
    run = client.evals.runs.create(
        eval_id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": upload.id}}
    )

    done = wait_for_run(client, eval_id, run.id)

    assert done.status == "completed", done.error
    counts = done.result_counts
    assert (counts.total, counts.passed, counts.failed, counts.errored) == (5, 1, 2, 2)
    items = {item.datasource_item_id: item for item in all_output_items(client, eval_id, run.id)}
    assert {i: items[i].status for i in items} == {
        0: "pass",
        1: "fail",  # graded on an empty sample
        2: "error",
        3: "error",
        4: "fail",
    }
    assert items[2].sample.error.code == "invalid_item"
    assert "not valid JSON" in items[2].sample.error.message
    assert "item schema" in items[3].sample.error.message
    assert items[3].results == []


def test_a_completions_run_samples_each_item_once_within_the_run_limit(
    stack: EvalStack,
) -> None:
    client = stack.client("completions")
    eval_id = _qa_eval(client, [EXACT])
    questions = [f"echo {i}" for i in range(12)]
    before = len(stack.agent.requests)
    peak = stack.agent.track_concurrency()

    run = client.evals.runs.create(eval_id, data_source=_completions("stub/echo", questions))
    done = wait_for_run(client, eval_id, run.id)

    assert done.status == "completed", done.error
    assert done.model == "stub/echo"
    assert done.result_counts.passed == 12
    sampled = [r.prompt for r in stack.agent.requests[before:]]
    assert sorted(sampled) == sorted(questions)
    assert 1 <= peak() <= PER_RUN_LIMIT
    [usage] = done.per_model_usage
    assert (usage.run_model_name, usage.invocation_count) == ("stub/echo", 12)
    assert usage.completion_tokens == 24
    assert usage.total_tokens == 24 + 36
    item = all_output_items(client, eval_id, run.id)[0]
    question = questions[item.datasource_item_id]
    sample = item.sample
    assert [(m.role, m.content) for m in sample.input] == [
        ("system", "Answer briefly."),
        ("user", question),
    ]
    assert sample.output[0].content == question
    assert (sample.model, sample.finish_reason, sample.temperature) == ("stub/echo", "stop", 0.0)
    assert sample.max_completion_tokens == 16
    assert stack.agent.requests[before].body["max_tokens"] == 16


def test_a_project_runs_one_eval_at_a_time_at_its_limit(stack: EvalStack) -> None:
    client = stack.client("one-at-a-time")
    eval_id = _qa_eval(client, [EXACT])
    stack.agent.hold_after(0)
    first = client.evals.runs.create(eval_id, data_source=_completions("stub/echo", ["a1", "a2"]))
    wait_until(lambda: stack.agent.held() == 2, "the first run's samples to be held")
    second = client.evals.runs.create(eval_id, data_source=_completions("stub/echo", ["b1"]))
    # Its task is tried, finds the project at its limit, and waits (arq's retry counter).
    wait_until(lambda: task_tries(stack.api.config.redis_url, second.id) >= 3, "retries")

    assert client.evals.runs.retrieve(second.id, eval_id=eval_id).status == "queued"
    assert "b1" not in stack.agent.prompts()
    stack.agent.release()
    for run in (first, second):
        assert wait_for_run(client, eval_id, run.id).status == "completed"


def test_cancel_stops_sampling_and_keeps_the_run_canceled(stack: EvalStack) -> None:
    client = stack.client("cancel")
    eval_id = _qa_eval(client, [EXACT])
    questions = [f"cancel me {i}" for i in range(40)]
    stack.agent.hold_after(5)
    abandoned_before = stack.agent.abandoned
    run = client.evals.runs.create(eval_id, data_source=_completions("stub/echo", questions))
    wait_until(lambda: stack.agent.held() == PER_RUN_LIMIT, "samples in flight to be held")

    canceled = client.evals.runs.cancel(run.id, eval_id=eval_id)

    assert canceled.status == "canceled"
    # The worker notices within a heartbeat and drops the samples in flight (their clients
    # hang up) instead of waiting for them.
    wait_until(
        lambda: stack.agent.abandoned - abandoned_before == PER_RUN_LIMIT,
        "the worker to drop its samples in flight",
        timeout_s=10,
    )
    asked = len([p for p in stack.agent.prompts() if p.startswith("cancel me")])
    stack.agent.release()
    # Nothing new started: another run goes from create to completed, and the canceled one
    # asked for no sample meanwhile.
    after = client.evals.runs.create(eval_id, data_source=_completions("stub/echo", ["later"]))
    assert wait_for_run(client, eval_id, after.id).status == "completed"
    assert len([p for p in stack.agent.prompts() if p.startswith("cancel me")]) == asked
    assert asked == 5 + PER_RUN_LIMIT
    final = client.evals.runs.retrieve(run.id, eval_id=eval_id)
    assert final.status == "canceled"
    assert final.result_counts.total <= 5


def test_grader_models_down_garbage_or_silent_fail_their_items_not_the_run(
    stack: EvalStack,
) -> None:
    client = stack.client("grader-models")
    judge = {
        "type": "score_model",
        "name": "judge",
        "model": "judge",  # on the operator's endpoint, which echoes the prompt as the score
        "input": [{"role": "user", "content": "{{sample.output_text}}"}],
        "range": [0, 1],
        "pass_threshold": 0.5,
    }
    down = judge | {
        "name": "down",
        "model": "stub/down",
        "input": [{"role": "user", "content": "{{item.question}} {{sample.output_text}}"}],
    }
    eval_id = _qa_eval(client, [judge])
    rows = [
        {"item": {"question": "q", "answer": ""}, "sample": {"output_text": text}}
        for text in ("0.9", "0.1", "no idea", '{"result": 0.7}')
    ]
    run = client.evals.runs.create(eval_id, data_source=_jsonl(rows))
    done = wait_for_run(client, eval_id, run.id)
    assert done.status == "completed", done.error
    counts = done.result_counts
    assert (counts.total, counts.passed, counts.failed, counts.errored) == (4, 2, 1, 1)
    items = {item.datasource_item_id: item for item in all_output_items(client, eval_id, run.id)}
    [garbage] = items[2].results
    assert garbage.metadata["errors"]["model_grader_parse_error"] is True
    assert (garbage.passed, garbage.score) == (False, 0.0)
    [judge_usage] = done.per_model_usage
    assert (judge_usage.run_model_name, judge_usage.invocation_count) == ("judge", 4)
    [criterion] = done.per_testing_criteria_results
    assert (criterion.passed, criterion.failed) == (2, 1)  # the errored item is neither

    down_eval = _qa_eval(client, [down])
    run = client.evals.runs.create(
        down_eval,
        data_source=_jsonl(rows[:2]),
    )
    done = wait_for_run(client, down_eval, run.id)
    assert done.status == "completed", done.error
    assert (done.result_counts.errored, done.result_counts.total) == (2, 2)
    for item in all_output_items(client, down_eval, run.id):
        errors = item.results[0].metadata["errors"]
        assert errors["model_grader_server_error"] is True
        assert "stub/down" in errors["model_grader_server_error_details"]

    # A sampled model that never answers: each item fails after the call's time limit.
    run = client.evals.runs.create(eval_id, data_source=_completions("stub/hang", ["h1", "h2"]))
    done = wait_for_run(client, eval_id, run.id)
    assert done.status == "completed", done.error
    assert done.result_counts.errored == 2
    for item in all_output_items(client, eval_id, run.id):
        assert item.sample.error.code == "model_error"
        assert "did not answer within" in item.sample.error.message
    stack.agent.release()  # let the stub's held threads go


def test_a_run_whose_task_is_given_up_ends_failed_with_internal_error(
    stack: EvalStack,
) -> None:
    client = stack.client("given-up")
    eval_id = _qa_eval(client, [EXACT])
    # Criteria that no longer parse (as a bug or a bad migration would leave them): the worker
    # raises on them, and the task policy gives the task up.
    with sqlite3.connect(stack.api.config.data_dir / "ftapi.db") as db:
        db.execute(
            "UPDATE evals SET testing_criteria = ? WHERE id = ?",
            (json.dumps([{"type": "string_check", "name": "broken"}]), eval_id),
        )
    rows = [{"item": {"question": "q", "answer": "a"}, "sample": {"output_text": "a"}}]
    run = client.evals.runs.create(eval_id, data_source=_jsonl(rows))

    done = wait_for_run(client, eval_id, run.id)

    assert done.status == "failed"
    assert done.error.code == "internal_error"
    assert "operators have the log" in done.error.message
