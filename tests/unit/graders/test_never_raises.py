"""run_grader never raises, whatever the item and the sample hold (Hypothesis).

string_check and text_similarity over generated JSON items, output texts and template paths:
every run returns a reward in [0, 1] and metadata of the SDK's shape, and the only error it may
report is a variable the data lacks (never ``other_error``, which would mean a crash caught).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.fine_tuning.alpha.grader_run_response import Metadata

from service.graders import GradedSample, run_grader
from service.graders.shapes import SimilarityMetric
from tests.unit.graders.helpers import errors_of, grader

# FTAPI_HYPOTHESIS_EXAMPLES=5000 for a longer hunt than the default run.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("FTAPI_HYPOTHESIS_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Keys a template path can spell (no dots, brackets, braces or whitespace); few, so that paths
# often hit what the items hold.
KEYS = st.sampled_from(["a", "b", "0", "1", "__class__", "ü", "x-y", "日本"])
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
ITEMS = st.dictionaries(KEYS, JSON, max_size=4)
OUTPUTS = st.text(max_size=60) | JSON.map(json.dumps)
PATHS = st.lists(KEYS, max_size=3).map(lambda keys: "".join(f".{key}" for key in keys))
VARIABLES = (
    PATHS.map(lambda path: f"{{{{ item{path} }}}}")
    | PATHS.map(lambda path: f"{{{{sample.output_json{path}}}}}")
    | st.just("{{sample.output_text}}")
)
LITERALS = st.sampled_from(["", " ", "a", "}", "b.c", "x}y", "Ok ", "é"])
TEMPLATES = st.lists(VARIABLES | LITERALS, min_size=1, max_size=3).map("".join)
METRICS = [metric for metric in get_args(SimilarityMetric) if metric != "cosine"]
GRADERS = st.one_of(
    st.builds(
        lambda text, reference, operation: {
            "type": "string_check",
            "name": "s",
            "input": text,
            "reference": reference,
            "operation": operation,
        },
        TEMPLATES,
        TEMPLATES,
        st.sampled_from(["eq", "ne", "like", "ilike"]),
    ),
    st.builds(
        lambda text, reference, metric: {
            "type": "text_similarity",
            "name": "t",
            "input": text,
            "reference": reference,
            "evaluation_metric": metric,
        },
        TEMPLATES,
        TEMPLATES,
        st.sampled_from(METRICS),
    ),
)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    """One event loop for every example (asyncio.run would build a thread pool per example)."""
    with asyncio.Runner() as runner:
        yield runner


@PROPERTY_SETTINGS
@given(raw=GRADERS, item=ITEMS, output=OUTPUTS)
def test_run_grader_never_raises(
    loop: asyncio.Runner, raw: dict[str, Any], item: dict[str, Any], output: str
) -> None:
    parsed = grader(raw)
    result = loop.run(
        run_grader(
            parsed, item=item, sample=GradedSample.of_text(output), models=None, embeddings=None
        )
    )
    assert 0.0 <= result.reward <= 1.0
    Metadata.model_validate(result.metadata, strict=True)
    assert errors_of(result) <= {"invalid_variable_error"}
