"""Skips that must not go unnoticed: a missing backing service is named in the run's summary.

``warnings.warn`` cannot carry this (the suite turns warnings into errors), so skipped reasons
are collected here and ``tests/conftest.py`` prints them in a red section at the end of the run.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

LOUD_SKIP_REASONS: list[str] = []


def skip_loudly(reason: str) -> NoReturn:
    """Skip the current test and repeat ``reason`` in the run's final summary."""
    if reason not in LOUD_SKIP_REASONS:
        LOUD_SKIP_REASONS.append(reason)
    pytest.skip(reason)
