"""Schemathesis against the live api: every operation, examples + coverage + fuzzing.

Each answer must be no server error, and must match the committed spec: a declared status,
content type and headers, and a body that fits its schema.
"""

from __future__ import annotations

import pytest
from schemathesis import Case

from tests.fuzz.spec import Tally, load_spec
from tests.support.http_checks import bearer
from tests.support.stack import ApiServer

PHASES = ["examples", "coverage", "fuzzing"]
BOUNDED = load_spec(max_examples=10, phases=PHASES)
LARGE = load_spec(max_examples=200, phases=PHASES, seed=None)


@pytest.fixture(scope="module")
def fuzz_key(fuzz_api: ApiServer) -> str:
    return fuzz_api.new_key("fuzz-conformance")


def call_and_validate(case: Case, api: ApiServer, key: str, tally: Tally) -> None:
    response = case.call_and_validate(base_url=api.root_url, headers=bearer(key))
    tally[(case.operation.label, response.status_code)] += 1


@BOUNDED.parametrize()
def test_every_operation_conforms(
    case: Case, fuzz_api: ApiServer, fuzz_key: str, tally: Tally
) -> None:
    call_and_validate(case, fuzz_api, fuzz_key, tally)


@pytest.mark.slow
@LARGE.parametrize()
def test_every_operation_conforms_at_length(
    case: Case, fuzz_api: ApiServer, fuzz_key: str, tally: Tally
) -> None:
    call_and_validate(case, fuzz_api, fuzz_key, tally)
