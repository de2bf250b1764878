"""Properties of the validator over generated input (Hypothesis).

- It never raises, whatever bytes arrive and however they are cut into chunks, and the
  chunking never changes the report.
- The fast path (msgspec) and the precise rules agree: a line is accepted by the fast path
  exactly when the rules find neither a problem nor a warning in it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.datasets.validation.fast_path import FastPath
from service.datasets.validation.formats import DatasetFormat, detect_format
from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.line_rules import check_example, parse_line
from service.datasets.validation.lines import split_lines
from service.datasets.validation.problems import LineFindings
from service.datasets.validation.validator import iter_examples, validate_jsonl

# FTAPI_HYPOTHESIS_EXAMPLES=5000 for a longer hunt than the default run.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("FTAPI_HYPOTHESIS_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Values of the wrong type, to put where a field expects something else.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-2, 3)
    | st.sampled_from([0.5, 1.0])
    | st.text(max_size=4)
)
odd_values = (
    scalars
    | st.lists(scalars, max_size=2)
    | st.dictionaries(st.text(max_size=3), scalars, max_size=2)
)


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually ``valid``, sometimes a value of some other type."""
    return st.one_of(valid, valid, valid, odd_values)


short_text = st.text(max_size=6)
arguments = st.sampled_from(['{"city": "Paris"}', "{}", "[]", "city=Paris", "", "1"])
function_call = st.fixed_dictionaries(
    {"name": mostly(st.sampled_from(["f", "get_weather", ""])), "arguments": mostly(arguments)},
    optional={"extra": scalars},
)
tool_call = st.fixed_dictionaries(
    {"id": mostly(st.sampled_from(["call_1", ""])), "function": mostly(function_call)},
    optional={"type": mostly(st.just("function"))},
)
text_part = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "input_audio"]), "text": mostly(short_text)},
    optional={"extra": scalars},
)
image_url = st.fixed_dictionaries(
    {
        "url": mostly(
            st.sampled_from(["https://x.test/a.png", "data:image/png;base64,AA", "ftp://x"])
        )
    },
    optional={"detail": mostly(st.sampled_from(["low", "high", "auto", "max"]))},
)
image_part = st.fixed_dictionaries({"type": st.just("image_url"), "image_url": mostly(image_url)})
content = st.one_of(
    short_text, short_text, st.lists(text_part | image_part, max_size=2), st.none(), odd_values
)
message = st.fixed_dictionaries(
    {
        "role": mostly(
            st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "bot"])
        )
    },
    optional={
        "content": content,
        "name": mostly(st.sampled_from(["alice", "get_weather", ""])),
        "weight": st.sampled_from([0, 1, 2, 0.5, 1.0, True, None]),
        "tool_calls": st.none() | st.lists(mostly(tool_call), max_size=2) | odd_values,
        "function_call": st.none() | mostly(function_call),
        "tool_call_id": mostly(st.sampled_from(["call_1", ""])),
        "refusal": st.none() | mostly(short_text),
        "metadata": scalars,
    },
)
messages = st.lists(mostly(message), max_size=4)
parameters = st.recursive(
    st.dictionaries(st.sampled_from(["type", "p"]), scalars, max_size=2),
    lambda inner: st.dictionaries(st.sampled_from(["p", "q"]), inner, min_size=1, max_size=2),
    max_leaves=12,
)
function_definition = st.fixed_dictionaries(
    {"name": mostly(st.sampled_from(["f", ""]))},
    optional={
        "description": mostly(short_text),
        "parameters": mostly(parameters),
        "strict": mostly(st.booleans()),
    },
)
tool = st.fixed_dictionaries(
    {"type": mostly(st.just("function")), "function": mostly(function_definition)}
)
tools_fields = {
    "tools": st.none() | st.lists(mostly(tool), max_size=2) | odd_values,
    "parallel_tool_calls": st.none() | mostly(st.booleans()),
}
chat_examples = st.fixed_dictionaries(
    {"messages": mostly(messages)},
    optional={
        **tools_fields,
        "functions": st.none() | st.lists(mostly(function_definition), max_size=2) | odd_values,
        "id": scalars,
    },
)
output = st.lists(
    mostly(
        st.fixed_dictionaries(
            {"role": mostly(st.sampled_from(["assistant", "user"])), "content": content},
            optional={"weight": scalars},
        )
    ),
    max_size=2,
)
preference_examples = st.fixed_dictionaries(
    {"input": mostly(st.fixed_dictionaries({"messages": mostly(messages)}, optional=tools_fields))},
    optional={
        "preferred_output": mostly(output),
        "non_preferred_output": mostly(output),
        "preferred_completion": mostly(output),
        "non_preferred_completion": mostly(output),
        "extra": scalars,
    },
)
completion_examples = st.fixed_dictionaries(
    {},
    optional={"prompt": mostly(short_text), "completion": mostly(short_text), "extra": scalars},
)
loose_examples = chat_examples | preference_examples | completion_examples

# Valid examples, then a few random edits: most rules are broken one at a time this way.
text = st.text(min_size=1, max_size=6)
text_parts = st.lists(
    st.fixed_dictionaries({"type": st.just("text"), "text": short_text}), min_size=1, max_size=2
)
valid_image_part = st.fixed_dictionaries(
    {
        "type": st.just("image_url"),
        "image_url": st.fixed_dictionaries(
            {"url": st.sampled_from(["https://x.test/a.png", "data:image/png;base64,AA"])},
            optional={"detail": st.sampled_from(["low", "high", "auto"])},
        ),
    }
)
names = {"name": st.none() | st.sampled_from(["alice", "bob"])}
valid_call = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["call_1", "call_2"]),
        "function": st.fixed_dictionaries(
            {
                "name": st.just("get_weather"),
                "arguments": st.sampled_from(["{}", '{"city": "Paris"}']),
            }
        ),
    },
    optional={"type": st.just("function")},
)
valid_user = st.fixed_dictionaries(
    {
        "role": st.just("user"),
        "content": text
        | st.lists(
            text_parts.map(lambda parts: parts[0]) | valid_image_part, min_size=1, max_size=2
        ),
    },
    optional=names,
)
valid_assistant = st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": text | text_parts},
    optional={**names, "weight": st.sampled_from([0, 1]), "refusal": st.none() | short_text},
) | st.fixed_dictionaries(
    {"role": st.just("assistant"), "tool_calls": st.lists(valid_call, min_size=1, max_size=2)},
    optional={"content": st.none() | st.just(""), "weight": st.sampled_from([0, 1])},
)
valid_trained_assistant = st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": text}, optional={"weight": st.just(1)}
)
valid_other = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer"]), "content": text | text_parts},
        optional=names,
    ),
    st.fixed_dictionaries(
        {
            "role": st.just("tool"),
            "tool_call_id": st.just("call_1"),
            "content": short_text | text_parts,
        }
    ),
    st.fixed_dictionaries(
        {"role": st.just("function"), "name": st.just("get_weather"), "content": short_text}
    ),
)
any_valid_message = valid_user | valid_assistant | valid_other
valid_messages = st.builds(
    lambda head, user, middle, last: [*head, user, *middle, last],
    st.lists(any_valid_message, max_size=2),
    valid_user,
    st.lists(any_valid_message, max_size=2),
    valid_trained_assistant,
)
valid_tools = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.just("function"),
            "function": st.fixed_dictionaries(
                {"name": st.just("get_weather")},
                optional={
                    "description": short_text,
                    "parameters": parameters,
                    "strict": st.booleans(),
                },
            ),
        }
    ),
    max_size=2,
)
valid_chat = st.fixed_dictionaries(
    {"messages": valid_messages},
    optional={"tools": valid_tools, "parallel_tool_calls": st.booleans()},
)
valid_output = st.builds(lambda content: [{"role": "assistant", "content": content}], text)
valid_preference = st.builds(
    lambda prompt, good, bad, good_key, bad_key: {"input": prompt, good_key: good, bad_key: bad},
    st.fixed_dictionaries(
        {
            "messages": st.builds(
                lambda head, user: [*head, user],
                st.lists(any_valid_message, max_size=2),
                valid_user,
            )
        },
        optional={"tools": valid_tools, "parallel_tool_calls": st.booleans()},
    ),
    valid_output,
    valid_output,
    st.sampled_from(["preferred_output", "preferred_completion"]),
    st.sampled_from(["non_preferred_output", "non_preferred_completion"]),
)
valid_completion = st.fixed_dictionaries({"prompt": short_text, "completion": text})


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


EDIT_KEYS = [
    "extra",
    "weight",
    "name",
    "content",
    "role",
    "tool_calls",
    "tool_call_id",
    "type",
    "input",
]


@st.composite
def edited(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A valid example after 0 to 2 edits: a value replaced, a key or item removed, a key added."""
    example: Any = draw(valid)
    for _ in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(_paths(example)))
        operation = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if operation == "replace":
                return draw(odd_values)
            continue
        parent = example
        for step in path[:-1]:
            parent = parent[step]
        target = parent[path[-1]]
        if operation == "replace":
            parent[path[-1]] = draw(odd_values | text)
        elif operation == "delete":
            del parent[path[-1]]
        elif isinstance(target, dict):
            target[draw(st.sampled_from(EDIT_KEYS))] = draw(odd_values)
    return example


examples = edited(valid_chat) | edited(valid_preference) | edited(valid_completion) | loose_examples
json_lines = st.builds(
    lambda example, ascii_only: json.dumps(example, ensure_ascii=ascii_only).encode(),
    examples,
    st.booleans(),
)
# Whole files: JSON lines (some cut short or corrupted), blank lines and raw bytes.
file_lines = st.one_of(
    json_lines,
    json_lines,
    json_lines.map(lambda line: line[: len(line) // 2]),
    st.sampled_from([b"", b"  ", b"\r", b"[1]", b"\xff\xfe", b"\x00", b"[[[[[[[[[[[[[[[["]),
    st.binary(max_size=30),
)
files = st.lists(file_lines, max_size=14).map(b"\n".join) | st.binary(max_size=300)
limits = st.builds(
    ValidationLimits,
    max_line_bytes=st.integers(1, 400),
    max_json_depth=st.integers(8, 12),
    max_messages_per_example=st.integers(1, 5),
    max_examples=st.integers(0, 20),
    min_examples=st.integers(0, 12),
    max_reported_problems=st.integers(1, 6),
)
expected = st.none() | st.sampled_from(
    [
        frozenset({DatasetFormat.CHAT, DatasetFormat.COMPLETION}),
        frozenset({DatasetFormat.PREFERENCE}),
    ]
)


def cut(data: bytes, cut_points: list[int]) -> list[bytes]:
    """``data`` split at the given offsets (empty chunks included)."""
    offsets = sorted({min(point, len(data)) for point in cut_points})
    return [
        data[start:end] for start, end in zip([0, *offsets], [*offsets, len(data)], strict=True)
    ]


@PROPERTY_SETTINGS
@given(
    data=files,
    cut_points=st.lists(st.integers(0, 400), max_size=12),
    limits=limits,
    expected_formats=expected,
)
def test_validation_never_raises_and_ignores_chunking(
    data: bytes,
    cut_points: list[int],
    limits: ValidationLimits,
    expected_formats: frozenset[DatasetFormat] | None,
) -> None:
    whole = validate_jsonl([data], limits, expected_formats)
    in_pieces = validate_jsonl(cut(data, cut_points), limits, expected_formats)

    assert in_pieces == whole
    assert whole.n_bytes == len(data)
    assert len(whole.problems) <= limits.max_reported_problems
    assert sum(whole.problem_counts.values()) >= len(whole.problems)
    assert whole.ok == (not whole.problems)
    assert isinstance(whole.summary(), str)
    examples = list(iter_examples(cut(data, cut_points), limits, expected_formats))
    assert [line for line, _ in examples] == [
        line for line, _ in iter_examples([data], limits, expected_formats)
    ]
    assert len(examples) <= whole.n_examples


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=2000), cut_points=st.lists(st.integers(0, 2000), max_size=30))
def test_arbitrary_bytes_never_raise(data: bytes, cut_points: list[int]) -> None:
    report = validate_jsonl(cut(data, cut_points))

    assert report == validate_jsonl([data])


def _rules_accept(line: bytes, fmt: DatasetFormat, limits: ValidationLimits) -> bool:
    """What the precise rules say about a line in a file of format ``fmt``."""
    findings = LineFindings(1)
    example = parse_line(line, limits, findings)
    if example is None or detect_format(example) not in (None, fmt):
        return False
    check_example(example, fmt, limits, findings)
    return not findings.problems and not findings.warnings


@PROPERTY_SETTINGS
@given(
    example=examples,
    file_format=st.none() | st.sampled_from(list(DatasetFormat)),
    max_json_depth=st.integers(8, 12),
    max_messages=st.integers(1, 6),
)
def test_fast_path_accepts_exactly_what_the_rules_accept(
    example: Any, file_format: DatasetFormat | None, max_json_depth: int, max_messages: int
) -> None:
    """``file_format`` None: the file has the example's own format (the common case)."""
    detected = detect_format(example) if isinstance(example, dict) else None
    fmt = file_format or detected or DatasetFormat.CHAT
    limits = ValidationLimits(max_json_depth=max_json_depth, max_messages_per_example=max_messages)
    line = msgspec.json.encode(example)

    assert FastPath(fmt, limits).accepts(line) == _rules_accept(line, fmt, limits)


@PROPERTY_SETTINGS
@given(
    data=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"defgh", b"\r\n"]), max_size=40).map(
        b"".join
    ),
    cut_points=st.lists(st.integers(0, 100), max_size=10),
    max_line_bytes=st.integers(1, 8),
)
def test_split_lines_matches_bytes_split(
    data: bytes, cut_points: list[int], max_line_bytes: int
) -> None:
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()  # a final newline ends the last line; it does not start one
    expected_lines = [line if len(line) <= max_line_bytes else None for line in expected]

    split = list(split_lines(cut(data, cut_points), max_line_bytes))

    assert split == list(enumerate(expected_lines, start=1))
