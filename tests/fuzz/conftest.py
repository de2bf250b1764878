"""One live stack (uvicorn, ctl worker, real Redis, SQLite, local disk) for the fuzz tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.spec import Tally
from tests.support.jobs import stack_config
from tests.support.services import RedisServer
from tests.support.stack import ApiServer

# Fuzzing sends hundreds of requests a minute from one key, and webhook URLs it invents may be
# public addresses nobody answers on: no rate limits, and short network timeouts.
FUZZ_ENV = {
    "FTAPI_RATE_LIMITS__ENABLED": "false",
    "FTAPI_WEBHOOKS__DELIVERY_TIMEOUT_S": "0.5",
    "FTAPI_WEBHOOKS__RESOLVE_TIMEOUT_S": "0.5",
    "FTAPI_WEBHOOKS__MAX_ENDPOINTS_PER_PROJECT": "100000",
    "FTAPI_JOBS__MAX_ACTIVE_JOBS_PER_PROJECT": "100000",
}


@pytest.fixture(scope="package")
def fuzz_api(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, job_registry: Path
) -> Iterator[ApiServer]:
    """The api under fuzzing, with the tiny base model registered (no gpu worker: jobs queue)."""
    config = stack_config(
        tmp_path_factory.mktemp("stack-fuzz"),
        redis_server.new_database_url(),
        job_registry,
        **FUZZ_ENV,
    )
    with ApiServer(config) as server:
        yield server


# What the fuzz tests sent, by operation and answer status; summed up at the end of the run.
FUZZ_TALLY = pytest.StashKey[Tally]()


@pytest.fixture(scope="session")
def tally(request: pytest.FixtureRequest) -> Tally:
    """Counts each request a fuzz test sends: ``tally[(operation label, status)] += 1``."""
    return request.config.stash.setdefault(FUZZ_TALLY, Counter())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = terminalreporter.config.stash.get(FUZZ_TALLY, None)
    if not counts:
        return
    operations = {operation for operation, _ in counts}
    by_status = Counter[int]()
    for (_, status), n in counts.items():
        by_status[status] += n
    terminalreporter.write_sep("-", "fuzzing against openapi/openapi.json")
    terminalreporter.write_line(
        f"{len(operations)} operations, {sum(counts.values())} requests, answers by status: "
        + ", ".join(f"{status}: {n}" for status, n in sorted(by_status.items()))
    )
    if terminalreporter.config.get_verbosity() > 0:
        for (operation, status), n in sorted(counts.items()):
            terminalreporter.write_line(f"  {operation} -> {status}: {n}")
