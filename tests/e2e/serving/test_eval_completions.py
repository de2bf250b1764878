"""A completions eval over the demo base model and a fine-tuned model of it, end to end: the api,
a ctl worker executing the runs, the inference gateway, the adapter agent and ``ftapi engine``
on the tiny model, all real processes, read back through the SDK in strict mode.

Greedy decoding: each run's samples are what a chat completion through the gateway answers,
and the fine-tuned model answers differently from its base.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from tests.e2e.serving.conftest import BASE_MODEL_ID, ServingStack
from tests.support.eval_runs import all_output_items, wait_for_run
from tests.support.stack import WorkerProcess

TOPICS = ("the weather", "the sea", "trains")
MAX_TOKENS = 8


@pytest.fixture(scope="module")
def ctl_worker(serving_stack: ServingStack) -> Iterator[WorkerProcess]:
    """The serving stack runs no ctl worker; eval runs need one."""
    worker = WorkerProcess(serving_stack.api.config, "ctl")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def _prompt(topic: str) -> str:
    return f"Tell me about {topic}."


def _greedy(sdk: OpenAI, model: str, topic: str) -> str:
    completion = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": _prompt(topic)}],
        temperature=0,
        max_tokens=MAX_TOKENS,
    )
    return completion.choices[0].message.content or ""


def test_a_completions_run_over_the_base_and_a_fine_tuned_model(
    serving_stack: ServingStack, project_key: str, ctl_worker: WorkerProcess
) -> None:
    fine_tuned = serving_stack.publish(project_key, seed=1)
    with serving_stack.sdk(project_key) as sdk:
        eval_id = sdk.evals.create(
            name="base vs fine-tuned",
            data_source_config={
                "type": "custom",
                "item_schema": {
                    "type": "object",
                    "properties": {"topic": {"type": "string"}},
                    "required": ["topic"],
                },
                "include_sample_schema": True,
            },
            testing_criteria=[
                {
                    "type": "string_check",
                    "name": "answered",
                    "input": "{{sample.output_text}}",
                    "reference": "",
                    "operation": "ne",
                }
            ],
        ).id
        runs = {
            model: sdk.evals.runs.create(
                eval_id,
                name=model,
                data_source={
                    "type": "completions",
                    "model": model,
                    "input_messages": {
                        "type": "template",
                        "template": [{"role": "user", "content": "Tell me about {{item.topic}}."}],
                    },
                    "sampling_params": {"temperature": 0, "max_completion_tokens": MAX_TOKENS},
                    "source": {
                        "type": "file_content",
                        "content": [{"item": {"topic": topic}} for topic in TOPICS],
                    },
                },
            ).id
            for model in (BASE_MODEL_ID, fine_tuned)
        }

        outputs: dict[str, dict[str, str]] = {}
        for model, run_id in runs.items():
            done = wait_for_run(sdk, eval_id, run_id, timeout_s=180)
            assert done.status == "completed", done.error
            assert done.model == model
            counts = done.result_counts
            assert (counts.total, counts.errored) == (len(TOPICS), 0), counts
            [usage] = done.per_model_usage
            assert (usage.run_model_name, usage.invocation_count) == (model, len(TOPICS))
            assert usage.completion_tokens >= len(TOPICS)
            items = all_output_items(sdk, eval_id, run_id)
            assert len(items) == len(TOPICS)
            outputs[model] = {}
            for item in items:
                topic = TOPICS[item.datasource_item_id]
                assert item.sample.model == model
                assert [(m.role, m.content) for m in item.sample.input] == [
                    ("user", _prompt(topic))
                ]
                outputs[model][topic] = item.sample.output[0].content or ""

        for model, answers in outputs.items():
            assert answers[TOPICS[0]] == _greedy(sdk, model, TOPICS[0])  # the gateway's answer
        assert outputs[BASE_MODEL_ID] != outputs[fine_tuned]
