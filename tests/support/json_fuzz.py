"""Hypothesis strategies for JSON text that ``json.dumps`` cannot write, and a writer for it.

A value drawn here is plain JSON data (dicts, lists, str, int, float, bool, None) that may hold
two kinds of node written by hand:

- ``RawJson``: bytes put in the line as they are: numbers of any size and precision (``1e400``,
  a 5000-digit integer, ``-0``), ``NaN``/``Infinity``, strings with any code point, lone
  surrogates as ``\\ud800`` escapes or as raw (invalid UTF-8) bytes, nesting at and past the
  depth limit, very large arrays and objects;
- ``DuplicateKeys``: an object that repeats a key.

``to_json`` writes such a value as one JSONL line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from service.datasets.validation.limits import MAX_JSON_DEPTH, ValidationLimits
from tests.support.dataset_examples import (
    valid_chat,
    valid_completion,
    valid_preference,
    value_paths,
)

DEFAULT_DEPTH = ValidationLimits().max_json_depth

# Examples per property: the suite's budget keeps each test within seconds; the ``slow`` twin
# of each test (``pytest -m slow``) runs the long hunt.
SUITE_EXAMPLES = 150
SLOW_EXAMPLES = 5000
_LONG_HUNT_TIMEOUT_S = 3600


def fuzz_budget(max_examples: int) -> settings:
    """Hypothesis settings for a fuzz property: no deadline (lines of MiBs take their time)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def long_hunt(test: Callable[..., None], max_examples: int = SLOW_EXAMPLES) -> Callable[..., None]:
    """A ``@given`` test with the large budget, under the ``slow`` marker and with the time it
    needs (the suite's per-test timeout is for the bounded budget)."""
    hunt = fuzz_budget(max_examples)(test)
    return pytest.mark.slow(pytest.mark.timeout(_LONG_HUNT_TIMEOUT_S)(hunt))


@dataclass(frozen=True)
class RawJson:
    """JSON text (possibly invalid) written into the line verbatim."""

    text: bytes


@dataclass(frozen=True)
class DuplicateKeys:
    """An object written pair by pair, so a key may appear more than once."""

    pairs: tuple[tuple[str, Any], ...]


def to_json(value: Any) -> bytes:
    """One line of JSON text for ``value``; ``RawJson`` and ``DuplicateKeys`` as they say."""
    if isinstance(value, RawJson):
        return value.text
    if isinstance(value, DuplicateKeys):
        return _object(value.pairs)
    if isinstance(value, dict):
        return _object(tuple(value.items()))
    if isinstance(value, list):
        return b"[" + b",".join(to_json(item) for item in value) + b"]"
    return json.dumps(value).encode()


def _object(pairs: tuple[tuple[str, Any], ...]) -> bytes:
    items = (json.dumps(key).encode() + b":" + to_json(item) for key, item in pairs)
    return b"{" + b",".join(items) + b"}"


# -- numbers -------------------------------------------------------------------------------------

_INT_BOUNDARIES = [
    2**53,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    -(2**63),
    -(2**63) - 1,
    123456789012345678901234567890,
]
_NUMBER_TOKENS = [
    b"-0",
    b"-0.0",
    b"0e0",
    b"1E+2",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"4.9e-324",
    b"1.7976931348623157e308",
    b"1.7976931348623159e308",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"nan",
    b"inf",
    b"01",
    b"+1",
    b".5",
    b"1.",
    b"0x10",
    b"1e",
    b"--1",
]
_DIGIT_COUNTS = [19, 20, 309, 310, 4300, 4301, 6000]

numbers = st.one_of(
    st.integers().map(lambda n: RawJson(str(n).encode())),
    st.sampled_from(_INT_BOUNDARIES).map(lambda n: RawJson(str(n).encode())),
    st.sampled_from(_NUMBER_TOKENS).map(RawJson),
    st.builds(
        lambda sign, n_digits: RawJson(sign + b"9" * n_digits),
        st.sampled_from([b"", b"-"]),
        st.sampled_from(_DIGIT_COUNTS),
    ),
    st.builds(
        lambda mantissa, fraction, exponent: RawJson(f"{mantissa}.{fraction}e{exponent}".encode()),
        st.integers(-(10**20), 10**20),
        st.integers(0, 10**40),
        st.integers(-400, 400),
    ),
    st.floats(allow_nan=False, allow_infinity=False),
)

# -- strings -------------------------------------------------------------------------------------

_SURROGATES = (0xD800, 0xDBFF, 0xDC00, 0xDFFF)
_string_pieces = st.one_of(
    # Any code point as an escape, lone surrogates included.
    st.integers(0, 0xFFFF).map(lambda cp: f"\\u{cp:04x}".encode()),
    st.sampled_from(_SURROGATES).map(lambda cp: f"\\u{cp:04x}".encode()),
    st.just(b"\\ud83d\\ude00"),  # a valid pair
    st.just(b"\\ude00\\ud83d"),  # the same pair, reversed
    # Any code point as raw bytes; surrogates this way are invalid UTF-8.
    st.integers(0x20, 0x10FFFF)
    .filter(lambda cp: cp not in (0x22, 0x5C))
    .map(lambda cp: chr(cp).encode("utf-8", "surrogatepass")),
    st.sampled_from([b"\\n", b'\\"', b"\\\\", b"\\/", b"\\b", b"\\x", b"\\u12", b"\t", b"\x00"]),
    st.text(max_size=8).map(lambda text: json.dumps(text)[1:-1].encode()),
)
strings = st.lists(_string_pieces, max_size=8).map(
    lambda pieces: RawJson(b'"' + b"".join(pieces) + b'"')
)

# -- structure -----------------------------------------------------------------------------------

# Around the depth limits, around Python's recursion limit, and far past both.
_DEPTHS = sorted(
    {DEFAULT_DEPTH - 1, DEFAULT_DEPTH, DEFAULT_DEPTH + 1, MAX_JSON_DEPTH + 1}
    | {sys.getrecursionlimit() - 50, sys.getrecursionlimit(), 100_000}
)
_KEYS = st.sampled_from(["role", "content", "messages", "a", ""]) | st.text(max_size=4)


def _nest(depth: int, inner: Any, opener: bytes, closer: bytes, closed: bool) -> RawJson:
    return RawJson(opener * depth + to_json(inner) + (closer * depth if closed else b""))


def _huge_array(item: Any, n_items: int) -> RawJson:
    return RawJson(b"[" + b",".join([to_json(item)] * n_items) + b"]")


def _huge_object(item: Any, n_keys: int, same_key: bool) -> RawJson:
    keys = (b'"k"' if same_key else b'"k%d"' % i for i in range(n_keys))
    return RawJson(b"{" + b",".join(key + b":" + to_json(item) for key in keys) + b"}")


def _with_structure(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(_KEYS, inner, max_size=4),
        st.lists(st.tuples(_KEYS, inner), min_size=2, max_size=4).map(
            lambda pairs: DuplicateKeys((*pairs, (pairs[0][0], pairs[-1][1])))
        ),
        st.builds(
            _nest,
            st.sampled_from(_DEPTHS),
            inner,
            st.sampled_from([b"[", b'{"a":']),
            st.sampled_from([b"]", b"}"]),
            st.booleans(),
        ),
        # Huge containers repeat only small leaves, so that a line stays within a few MiB.
        st.builds(_huge_array, _small_leaves, st.sampled_from([1000, 20_000])),
        st.builds(_huge_object, _small_leaves, st.sampled_from([1000, 20_000]), st.booleans()),
    )


_small_leaves = st.none() | st.booleans() | st.integers(-9, 9) | st.text(max_size=3)
_leaves = numbers | strings | st.none() | st.booleans() | st.text(max_size=6)
json_values = st.recursive(_leaves, _with_structure, max_leaves=8)
"""Any JSON value (valid or not) built of the nodes above."""


@st.composite
def spliced(draw: st.DrawFn, examples: st.SearchStrategy[Any]) -> Any:
    """An example with one of its values (or the whole) replaced by a value of ``json_values``,
    or one of its objects given a duplicate key."""
    example: Any = draw(examples)
    path = draw(st.sampled_from(value_paths(example)))
    if not path:
        return draw(json_values)
    parent = example
    for step in path[:-1]:
        parent = parent[step]
    target = parent[path[-1]]
    if isinstance(target, dict) and target and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(target)))
        parent[path[-1]] = DuplicateKeys((*target.items(), (key, draw(json_values))))
    else:
        parent[path[-1]] = draw(json_values)
    return example


# Tool-call arguments are JSON text inside a string, out of reach of the line's depth limit.
# Where one parser still copes and the next step (deeper in the stack) overflows: a window of a
# few levels below the recursion limit. The limit is read when drawing, because Hypothesis raises
# it while a test runs.
_deep_arguments = st.one_of(
    st.sampled_from(_DEPTHS),
    st.integers(1, 150).map(lambda margin: sys.getrecursionlimit() - margin),
).map(lambda depth: _nest(depth, {}, b'{"a":', b"}", closed=True))
_argument_objects = st.one_of(
    st.dictionaries(st.text(max_size=3), json_values, max_size=3), _deep_arguments, _deep_arguments
)


@st.composite
def valid_with_odd_values(draw: st.DrawFn) -> Any:
    """A valid example whose free-form values (texts, tool parameters and call arguments) hold
    hand-written JSON: any code point, huge and precise numbers, deep and large containers."""
    example: Any = draw(valid_chat | valid_preference | valid_completion)
    # Deepest first, so that replacing a value never leaves a path below it to follow.
    for path in reversed(value_paths(example)):
        if not path or not draw(st.booleans()):
            continue
        parent = example
        for step in path[:-1]:
            parent = parent[step]
        value, key = parent[path[-1]], path[-1]
        if key == "arguments":
            parent[key] = to_json(draw(_argument_objects)).decode("utf-8", "replace")
        elif key == "parameters":
            parent[key] = draw(st.dictionaries(st.text(max_size=3), json_values, max_size=3))
        elif isinstance(value, str) and key not in ("role", "type", "url", "detail"):
            parent[key] = draw(strings)
    return example
