"""Shared by the security tests: a tally of hostile cases, summed up at the end of the run."""

from __future__ import annotations

from collections import Counter

import pytest

HostileTally = Counter[str]
HOSTILE_TALLY = pytest.StashKey[HostileTally]()


@pytest.fixture(scope="session")
def hostile_tally(request: pytest.FixtureRequest) -> HostileTally:
    """``["cases"]``: hostile requests sent; ``["5xx"]``: how many got a server error."""
    return request.config.stash.setdefault(HOSTILE_TALLY, Counter())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tally = terminalreporter.config.stash.get(HOSTILE_TALLY, None)
    if tally:
        terminalreporter.write_sep("-", "hostile input")
        terminalreporter.write_line(f"{tally['cases']} cases tried, {tally['5xx']} answered 5xx")
