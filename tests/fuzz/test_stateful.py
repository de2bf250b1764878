"""Schemathesis' state machine over the spec's links against the live api.

It chains operations the way a client does (create a file → create a job → retrieve → pause →
resume → cancel, uploads → parts → complete, webhook endpoints → update → rotate → delete,
evals → runs → cancel → output items → delete) and checks every answer like the stateless run
does. Creation bodies are steered half of the time (a valid training file, the registered base
model, a valid upload, a public webhook URL, a valid eval and run) so chains reach real objects
instead of stopping at the first 400.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import Case, HookContext, Response
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.fuzz.spec import Tally, load_spec
from tests.support.http_checks import bearer
from tests.support.jobs import TINY_MODEL_ID, chat_jsonl
from tests.support.stack import ApiServer

MAX_RESTARTS = 20
VALID_FILE_FORM = {"file": chat_jsonl(12), "purpose": "fine-tune"}
VALID_UPLOAD = {
    "filename": "t.jsonl",
    "purpose": "fine-tune",
    "bytes": 64,
    "mime_type": "text/jsonl",
}
PUBLIC_WEBHOOK_URL = "https://93.184.216.34/hooks"  # passes the SSRF guard without DNS
VALID_EVAL = {
    "data_source_config": {
        "type": "custom",
        "item_schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
        "include_sample_schema": True,
    },
    "testing_criteria": [
        {
            "type": "string_check",
            "name": "exact",
            "input": "{{sample.output_text}}",
            "reference": "{{item.answer}}",
            "operation": "eq",
        }
    ],
}
VALID_RUN = {
    "data_source": {
        "type": "jsonl",
        "source": {
            "type": "file_content",
            "content": [{"item": {"answer": "a"}, "sample": {"output_text": "a"}}],
        },
    }
}


def stateful_spec(seed: int | None) -> OpenApiSchema:
    """The spec for stateful runs, with its bodies steered towards objects that exist."""
    # Negative bodies stop a chain at its first step; the stateless run sends those.
    schema = load_spec(max_examples=1, phases=["stateful"], seed=seed, mode="positive")

    @schema.hook
    def before_generate_body(context: HookContext, strategy: st.SearchStrategy[Any]) -> Any:
        operation = context.operation
        if operation is None or operation.method.upper() != "POST":
            return strategy
        if operation.path == "/v1/files":
            return st.one_of(st.just(VALID_FILE_FORM), strategy)
        if operation.path in ("/v1/fine_tuning/jobs", "/v1/fine_tuning/estimate"):
            # A link fills training_file in; generated extras often break rules the schema
            # cannot state (metadata sizes, method/hyperparameter pairs), so a minimal body too.
            minimal = {"model": TINY_MODEL_ID, "training_file": "file-from-a-link"}
            return st.one_of(st.just(minimal), strategy.map(_with_tiny_model), strategy)
        if operation.path == "/v1/uploads":
            return st.one_of(st.just(VALID_UPLOAD), strategy)
        if operation.path == "/v1/webhook_endpoints":
            return st.one_of(strategy.map(_with_public_url), strategy)
        if operation.path == "/v1/evals":
            return st.one_of(st.just(VALID_EVAL), strategy)
        if operation.path == "/v1/evals/{eval_id}/runs":
            return st.one_of(st.just(VALID_RUN), strategy)
        return strategy

    return schema


def _with_tiny_model(body: Any) -> Any:
    return {**body, "model": TINY_MODEL_ID} if isinstance(body, dict) else body


def _with_public_url(body: Any) -> Any:
    return {**body, "url": PUBLIC_WEBHOOK_URL} if isinstance(body, dict) else body


def run_workflow(
    schema: OpenApiSchema,
    api: ApiServer,
    key: str,
    tally: Tally,
    *,
    max_examples: int,
    derandomize: bool,
) -> None:
    """Run the spec's state machine against ``api`` until ``max_examples`` scenarios ran."""
    scenarios = Counter[str]()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"base_url": api.root_url, "headers": bearer(key)}

        def after_call(self, response: Response, case: Case) -> None:
            tally[(case.operation.label, response.status_code)] += 1

        def teardown(self) -> None:
            scenarios["done"] += 1

    for _ in range(MAX_RESTARTS):
        remaining = max_examples - scenarios["done"]
        if remaining <= 0:
            return
        try:
            Workflow.run(settings=_settings(remaining, derandomize))
        except* FlakyStrategyDefinition:
            # The live api answered a replayed step differently (objects were created or
            # deleted since), so Hypothesis cannot replay it; every step before was checked.
            # Go on with a fresh run, as Schemathesis' own runner does. Other errors propagate.
            pass
        else:
            return
    assert scenarios["done"] >= max_examples // 2, f"only {scenarios['done']} scenarios ran"


def _settings(max_examples: int, derandomize: bool) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=max_examples,
        derandomize=derandomize,
        stateful_step_count=8,
        deadline=None,
        database=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )


@pytest.fixture(scope="module")
def workflow_key(fuzz_api: ApiServer) -> str:
    return fuzz_api.new_key("fuzz-stateful")


def test_linked_operations_conform(fuzz_api: ApiServer, workflow_key: str, tally: Tally) -> None:
    # The same scenarios on every run of the suite; the slow run explores at random.
    run_workflow(
        stateful_spec(seed=0), fuzz_api, workflow_key, tally, max_examples=60, derandomize=True
    )


@pytest.mark.slow
def test_linked_operations_conform_at_length(
    fuzz_api: ApiServer, workflow_key: str, tally: Tally
) -> None:
    run_workflow(
        stateful_spec(seed=None), fuzz_api, workflow_key, tally, max_examples=500, derandomize=False
    )
