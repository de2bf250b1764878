"""The streaming validator against the corpus in tests/data and hand-made edge cases."""

from __future__ import annotations

import importlib.util
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from service.datasets.validation.formats import DatasetFormat, detect_format, formats_for_method
from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.lines import split_lines
from service.datasets.validation.problems import ValidationReport
from service.datasets.validation.validator import iter_examples, validate_jsonl

DATA = Path(__file__).resolve().parents[2] / "data"
MiB = 1024 * 1024


def _load_make_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_corpus", DATA / "make_corpus.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_corpus = _load_make_corpus()


def read_chunks(path: Path, chunk_bytes: int = MiB) -> Iterator[bytes]:
    """A file as the validator gets it from a blob store: fixed-size byte chunks."""
    with path.open("rb") as blob:
        while chunk := blob.read(chunk_bytes):
            yield chunk


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def chat_line(i: int = 1, assistant_fields: dict[str, object] | None = None) -> bytes:
    """A valid chat example, with ``assistant_fields`` set on its assistant message."""
    assistant = {"role": "assistant", "content": f"Answer {i}.", **(assistant_fields or {})}
    return json.dumps({"messages": [{"role": "user", "content": f"Q{i}"}, assistant]}).encode()


def good_chat(n: int) -> bytes:
    return b"".join(chat_line(i) + b"\n" for i in range(n))


def found(report: ValidationReport) -> list[tuple[str, int, str | None]]:
    """(code, line, param) of each reported problem."""
    return [(p.code, p.line, p.param) for p in report.problems]


# file, job method (None: any format), code, line, param
COMMITTED_BAD_FILES = [
    ("not_json.jsonl", None, "invalid_json", 3, None),
    ("trailing_comma.jsonl", None, "invalid_json", 8, None),
    ("nan_number.jsonl", None, "invalid_json", 4, None),
    ("json_array.jsonl", None, "not_an_object", 2, None),
    ("json_string.jsonl", None, "not_an_object", 5, None),
    ("deep_nesting.jsonl", None, "too_deep", 4, None),
    ("missing_messages.jsonl", None, "missing_messages", 1, "messages"),
    ("messages_not_a_list.jsonl", None, "missing_messages", 6, "messages"),
    ("empty_messages.jsonl", None, "missing_messages", 7, "messages"),
    ("message_not_an_object.jsonl", None, "invalid_message", 3, "messages[0]"),
    ("missing_role.jsonl", None, "missing_role", 2, "messages[0].role"),
    ("unknown_role.jsonl", None, "unrecognized_role", 5, "messages[0].role"),
    ("unknown_message_key.jsonl", None, "unrecognized_key", 9, "messages[0].metadata"),
    ("tool_calls_on_user_message.jsonl", None, "unrecognized_key", 4, "messages[0].tool_calls"),
    ("missing_content.jsonl", None, "missing_content", 3, "messages[0].content"),
    ("empty_assistant_content.jsonl", None, "missing_content", 6, "messages[1].content"),
    ("content_not_text.jsonl", None, "invalid_content", 2, "messages[0].content"),
    ("audio_content_part.jsonl", None, "invalid_content", 10, "messages[0].content[0]"),
    (
        "image_in_assistant_message.jsonl",
        None,
        "image_not_allowed",
        4,
        "messages[1].content[0]",
    ),
    ("bad_image_url.jsonl", None, "invalid_content", 8, "messages[0].content[1].image_url.url"),
    ("tool_calls_not_a_list.jsonl", None, "invalid_tool_calls", 3, "messages[1].tool_calls"),
    (
        "tool_call_arguments_not_json.jsonl",
        None,
        "invalid_tool_calls",
        5,
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        "tool_message_without_tool_call_id.jsonl",
        None,
        "missing_tool_call_id",
        6,
        "messages[2].tool_call_id",
    ),
    ("function_message_without_name.jsonl", None, "missing_name", 2, "messages[2].name"),
    ("weight_fraction.jsonl", None, "invalid_weight", 4, "messages[1].weight"),
    ("weight_bool.jsonl", None, "invalid_weight", 7, "messages[1].weight"),
    ("weight_float_one.jsonl", None, "invalid_weight", 3, "messages[1].weight"),
    ("no_assistant_message.jsonl", None, "missing_assistant_message", 5, "messages"),
    ("only_weight_zero.jsonl", None, "no_trained_tokens", 6, "messages"),
    ("tools_not_a_list.jsonl", None, "invalid_tools", 2, "tools"),
    ("tool_without_function_name.jsonl", None, "invalid_tools", 9, "tools[0].function.name"),
    ("parallel_tool_calls_not_bool.jsonl", None, "invalid_type", 4, "parallel_tool_calls"),
    ("name_not_a_string.jsonl", None, "invalid_type", 3, "messages[0].name"),
    ("preference_missing_input.jsonl", "dpo", "missing_input", 4, "input"),
    ("preference_two_preferred_messages.jsonl", "dpo", "invalid_output", 2, "preferred_output"),
    (
        "preference_output_not_assistant.jsonl",
        "dpo",
        "unrecognized_role",
        6,
        "non_preferred_output[0].role",
    ),
    ("preference_missing_non_preferred.jsonl", "dpo", "missing_output", 3, "non_preferred_output"),
    ("preference_input_ends_with_assistant.jsonl", "dpo", "invalid_input", 8, "input.messages[1]"),
    ("preference_both_spellings.jsonl", "dpo", "invalid_output", 5, "preferred_completion"),
    (
        "preference_output_content_parts.jsonl",
        "dpo",
        "invalid_content",
        7,
        "preferred_output[0].content",
    ),
    ("completion_missing_completion.jsonl", "supervised", "missing_completion", 3, "completion"),
    ("completion_prompt_not_a_string.jsonl", "supervised", "invalid_type", 9, "prompt"),
    ("mixed_formats.jsonl", None, "format_mismatch", 5, None),
    ("preference_for_supervised_job.jsonl", "supervised", "format_mismatch", 0, None),
    ("chat_for_dpo_job.jsonl", "dpo", "format_mismatch", 0, None),
    ("nine_examples.jsonl", None, "too_few_examples", 0, None),
    ("empty.jsonl", None, "empty_file", 0, None),
    ("only_blank_lines.jsonl", None, "empty_file", 0, None),
]

GENERATED_BAD_FILES = [
    ("huge_line.jsonl", "line_too_long", 4, None),
    ("invalid_utf8.jsonl", "invalid_utf8", 3, None),
    ("nul_byte.jsonl", "nul_character", 6, None),
    ("byte_order_mark.jsonl", "invalid_json", 1, None),
    ("too_many_messages.jsonl", "too_many_messages", 2, "messages"),
]

GOOD_FILES = [
    ("unicode.jsonl", DatasetFormat.CHAT, "supervised"),
    ("unicode_escaped.jsonl", DatasetFormat.CHAT, "supervised"),
    ("tools.jsonl", DatasetFormat.CHAT, "supervised"),
    ("multi_turn_weights.jsonl", DatasetFormat.CHAT, "supervised"),
    ("content_parts.jsonl", DatasetFormat.CHAT, "supervised"),
    ("preference.jsonl", DatasetFormat.PREFERENCE, "dpo"),
    ("preference_aliases.jsonl", DatasetFormat.PREFERENCE, "dpo"),
    ("completion.jsonl", DatasetFormat.COMPLETION, "supervised"),
]


@pytest.mark.parametrize(
    ("name", "method", "code", "line", "param"),
    COMMITTED_BAD_FILES,
    ids=[row[0] for row in COMMITTED_BAD_FILES],
)
def test_bad_file_reports_its_one_problem(
    name: str, method: str | None, code: str, line: int, param: str | None
) -> None:
    expected_formats = formats_for_method(method) if method else None
    report = validate_jsonl(read_chunks(DATA / "bad" / name), expected_formats=expected_formats)

    assert found(report) == [(code, line, param)]
    assert report.problem_counts == {code: 1}
    assert not report.ok
    assert f"line {line}" in report.summary() or line == 0


@pytest.mark.parametrize(
    ("name", "code", "line", "param"), GENERATED_BAD_FILES, ids=[r[0] for r in GENERATED_BAD_FILES]
)
def test_generated_bad_file_reports_its_one_problem(
    tmp_path: Path, name: str, code: str, line: int, param: str | None
) -> None:
    path = make_corpus.write_generated(tmp_path, name)

    report = validate_jsonl(read_chunks(path))

    assert found(report) == [(code, line, param)]
    assert report.n_examples == 11


def test_corpus_has_a_table_row_for_every_bad_file() -> None:
    committed = {path.name for path in (DATA / "bad").glob("*.jsonl")}

    assert committed == {row[0] for row in COMMITTED_BAD_FILES}
    assert len(committed) + len(GENERATED_BAD_FILES) >= 30


def test_huge_line_is_skipped_without_being_buffered(tmp_path: Path) -> None:
    path = make_corpus.write_generated(tmp_path, "huge_line.jsonl")
    assert path.stat().st_size > 20 * MiB

    tracemalloc.start()
    try:
        report = validate_jsonl(read_chunks(path))
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert found(report) == [("line_too_long", 4, None)]
    # max_line_bytes (4 MiB) of the line, one chunk and its split; never the whole 20 MiB line.
    assert peak_bytes < 8 * MiB


@pytest.mark.parametrize(("name", "fmt", "method"), GOOD_FILES, ids=[row[0] for row in GOOD_FILES])
def test_good_file_passes_without_warnings(name: str, fmt: DatasetFormat, method: str) -> None:
    path = DATA / "good" / name
    n_lines = len(path.read_bytes().splitlines())

    report = validate_jsonl(read_chunks(path), expected_formats=formats_for_method(method))

    assert (report.problems, report.problem_counts) == ([], {})
    assert (report.warnings, report.warning_counts) == ([], {})
    assert report.ok
    assert report.format is fmt
    assert report.n_examples == n_lines
    assert report.n_bytes == path.stat().st_size
    assert report.summary() == f"Valid {fmt} file with {n_lines} examples."


def test_crlf_blank_lines_and_missing_final_newline_are_fine(tmp_path: Path) -> None:
    path = make_corpus.write_generated(tmp_path, "crlf_blank_lines.jsonl")

    report = validate_jsonl(read_chunks(path, chunk_bytes=7))

    assert report.ok
    assert report.n_examples == 10  # the three blank lines are not examples


def test_blank_lines_still_count_for_line_numbers() -> None:
    data = good_chat(3) + b"\n  \n" + b"oops\n" + good_chat(8)

    assert found(validate_jsonl([data])) == [("invalid_json", 6, None)]


@pytest.mark.parametrize("chunk_bytes", [1, 3, 64, 4096])
@pytest.mark.parametrize(
    "name", ["not_json.jsonl", "tools.jsonl", "preference_both_spellings.jsonl", "unicode.jsonl"]
)
def test_chunk_size_does_not_change_the_report(name: str, chunk_bytes: int) -> None:
    folder = "good" if (DATA / "good" / name).exists() else "bad"
    data = (DATA / folder / name).read_bytes()

    assert validate_jsonl(chunked(data, chunk_bytes)) == validate_jsonl([data])


def test_many_problems_report_the_first_n_and_count_all() -> None:
    unknown_role = (
        b'{"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}'
    )
    data = good_chat(10) + b"not json\n" * 100 + unknown_role + b"\n"
    limits = ValidationLimits(max_reported_problems=20)

    report = validate_jsonl([data], limits, expected_formats=formats_for_method("dpo"))

    assert len(report.problems) == 20
    # File-level problems come first so that a long list of line problems never hides them.
    assert found(report)[0] == ("format_mismatch", 0, None)
    assert found(report)[1:] == [("invalid_json", line, None) for line in range(11, 30)]
    assert report.problem_counts == {
        "format_mismatch": 1,
        "invalid_json": 100,
        "unrecognized_role": 1,
    }
    summary = report.summary()
    assert summary.startswith("Found 102 problem(s) in 111 examples: file: format_mismatch")
    assert "line 11: invalid_json" in summary
    assert "invalid_json x100" in summary


def test_first_valid_example_decides_the_format() -> None:
    completion = b'{"prompt": "1 + 1 =", "completion": " 2"}\n'
    data = b"[]\n" + completion * 10 + chat_line() + b"\n"

    report = validate_jsonl([data])

    assert report.format is DatasetFormat.COMPLETION
    assert found(report) == [("not_an_object", 1, None), ("format_mismatch", 12, None)]
    assert "(line 2) is completion" in report.problems[1].message


def test_line_of_no_known_format_is_checked_as_the_jobs_format() -> None:
    data = b'{"text": "hello"}\n' + good_chat(10)

    supervised = validate_jsonl([data], expected_formats=formats_for_method("supervised"))
    dpo = validate_jsonl([data], expected_formats=formats_for_method("dpo"))

    assert found(supervised) == [("missing_messages", 1, "messages")]
    assert found(dpo)[:3] == [
        ("format_mismatch", 0, None),
        ("missing_input", 1, "input"),
        ("missing_output", 1, "preferred_output"),
    ]


def test_warnings_are_kept_apart_from_problems() -> None:
    user = {"role": "user", "content": "u"}
    assistant = {"role": "assistant", "content": "a"}
    no_user = json.dumps({"messages": [{"role": "system", "content": "s"}, assistant]}).encode()
    extra_key = json.dumps({"messages": [user, assistant], "id": 7}).encode()
    weight_on_user = json.dumps({"messages": [{**user, "weight": 0}, assistant]}).encode()
    same = json.dumps(
        {
            "input": {"messages": [user]},
            "preferred_output": [assistant],
            "non_preferred_output": [assistant],
        }
    ).encode()
    data = good_chat(10) + b"\n".join([no_user, extra_key, weight_on_user]) + b"\n"

    chat = validate_jsonl([data])
    preference = validate_jsonl([same + b"\n"] * 10)

    assert chat.ok
    assert [(w.code, w.line, w.param) for w in chat.warnings] == [
        ("no_user_message", 11, "messages"),
        ("ignored_key", 12, "id"),
        ("ignored_weight", 13, "messages[0].weight"),
    ]
    assert chat.warning_counts == {"no_user_message": 1, "ignored_key": 1, "ignored_weight": 1}
    assert preference.ok
    assert preference.warning_counts == {"identical_outputs": 10}
    assert "10 warning(s)" in preference.summary()


def test_no_system_message_is_not_worth_a_warning() -> None:
    report = validate_jsonl([good_chat(10)])

    assert report.warnings == []


@pytest.mark.parametrize(
    ("assistant", "code"),
    [
        ({"weight": 1}, None),
        ({"weight": 0, "content": "x"}, "no_trained_tokens"),
        ({"weight": 2}, "invalid_weight"),
        ({"weight": -1}, "invalid_weight"),
        ({"weight": None}, "invalid_weight"),
        ({"weight": "1"}, "invalid_weight"),
        ({"weight": False}, "invalid_weight"),
        ({"content": None, "tool_calls": []}, "missing_content"),
        ({"content": [], "tool_calls": None}, "missing_content"),
        ({"content": "", "refusal": "I can't."}, "missing_content"),
        ({"refusal": 3}, "invalid_type"),
        (
            {"tool_calls": [{"id": "", "function": {"name": "f", "arguments": "{}"}}]},
            "invalid_tool_calls",
        ),
        (
            {
                "tool_calls": [
                    {"id": "c", "type": "fn", "function": {"name": "f", "arguments": "{}"}}
                ]
            },
            "invalid_tool_calls",
        ),
        (
            {"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}]},
            "invalid_tool_calls",
        ),
        (
            {"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}", "x": 1}}]},
            "unrecognized_key",
        ),
        ({"content": None, "function_call": {"name": "f", "arguments": "{}"}}, None),
        ({"content": [{"type": "text", "text": "hi"}]}, None),
        ({"content": [{"text": "hi"}]}, "invalid_content"),
        ({"content": [{"type": "text", "text": 5}]}, "invalid_content"),
    ],
)
def test_assistant_message_rules(assistant: dict[str, object], code: str | None) -> None:
    line = chat_line(1, assistant)
    data = good_chat(10) + line + b"\n"

    report = validate_jsonl([data])
    first_line_report = validate_jsonl([line + b"\n" + good_chat(10)])

    # The same verdict from the fast path (line 11) and the precise rules (line 1).
    assert [p.code for p in report.problems] == ([code] if code else [])
    assert [p.code for p in first_line_report.problems] == ([code] if code else [])


def _deep_tools_line(depth: int) -> bytes:
    """A chat line whose deepest point is ``depth`` levels, inside a tool's parameters."""
    parameters: dict[str, object] = {}
    for _ in range(depth - 5):  # example, tools, tool, function, parameters: 5 levels
        parameters = {"p": parameters}
    tool = {"type": "function", "function": {"name": "f", "parameters": parameters}}
    example = json.loads(chat_line())
    example["tools"] = [tool]
    return json.dumps(example).encode()


@pytest.mark.parametrize(("depth", "code"), [(12, None), (13, "too_deep")])
def test_depth_limit_is_exact_on_both_paths(depth: int, code: str | None) -> None:
    limits = ValidationLimits(max_json_depth=12)
    line = _deep_tools_line(depth)

    after_valid = validate_jsonl([good_chat(10) + line], limits)
    first = validate_jsonl([line + b"\n" + good_chat(10)], limits)

    assert [p.code for p in after_valid.problems] == ([code] if code else [])
    assert [p.code for p in first.problems] == ([code] if code else [])


@pytest.mark.parametrize(("depth", "code"), [(12, None), (13, "too_deep")])
def test_tool_call_arguments_have_the_same_depth_limit(depth: int, code: str | None) -> None:
    limits = ValidationLimits(max_json_depth=12)
    arguments = '{"a":' * depth + "1" + "}" * depth
    line = chat_line(
        1,
        {
            "content": None,
            "tool_calls": [
                {"id": "call_1", "function": {"name": "f", "arguments": arguments}},
            ],
        },
    )

    after_valid = validate_jsonl([good_chat(10) + line], limits)
    first = validate_jsonl([line + b"\n" + good_chat(10)], limits)

    param = "messages[1].tool_calls[0].function.arguments"
    expected = [(code, param)] if code else []
    assert [(p.code, p.param) for p in after_valid.problems] == expected
    assert [(p.code, p.param) for p in first.problems] == expected


def test_deeply_nested_garbage_does_not_overflow_the_stack() -> None:
    data = good_chat(10) + b"[" * 500_000 + b"\n" + b'{"messages": ' + b"[" * 100_000 + b"\n"

    assert found(validate_jsonl([data])) == [("too_deep", 11, None), ("too_deep", 12, None)]


def test_limits_on_examples_and_lines() -> None:
    limits = ValidationLimits(max_examples=5, min_examples=3, max_line_bytes=len(chat_line(1)))
    long_line = chat_line(1, {"name": "a-long-name"})

    assert found(validate_jsonl([good_chat(6)], limits)) == [("too_many_examples", 0, None)]
    assert found(validate_jsonl([good_chat(2)], limits)) == [("too_few_examples", 0, None)]
    assert found(validate_jsonl([good_chat(3) + long_line], limits)) == [("line_too_long", 4, None)]
    assert validate_jsonl([good_chat(2)], ValidationLimits(min_examples=0)).ok


@pytest.mark.parametrize(
    "bad_limits",
    [
        {"max_line_bytes": 0},
        {"max_json_depth": 4},
        {"max_json_depth": 10_000},
        {"max_messages_per_example": 0},
        {"max_reported_problems": 0},
        {"min_examples": -1},
        {"max_examples": 1.5},
    ],
)
def test_limits_refuse_values_that_cannot_work(bad_limits: dict[str, object]) -> None:
    name = next(iter(bad_limits))
    with pytest.raises(ValueError, match=name):
        ValidationLimits(**bad_limits)  # type: ignore[arg-type]


def test_iter_examples_yields_valid_examples_with_their_line_numbers() -> None:
    data = (
        chat_line(1)
        + b"\n\nnot json\n"
        + chat_line(4)
        + b"\n"
        + b'{"prompt": "p", "completion": "c"}'
    )

    examples = list(iter_examples(chunked(data, 5)))

    assert [line for line, _ in examples] == [1, 4]
    assert examples[1][1] == json.loads(chat_line(4))


def test_iter_examples_renames_preference_aliases() -> None:
    data = (DATA / "good" / "preference_aliases.jsonl").read_bytes()

    examples = [example for _, example in iter_examples([data])]

    assert len(examples) == 11
    for example in examples:
        assert set(example) == {"input", "preferred_output", "non_preferred_output"}
        assert detect_format(example) is DatasetFormat.PREFERENCE


def test_formats_for_method() -> None:
    assert formats_for_method("supervised") == {DatasetFormat.CHAT, DatasetFormat.COMPLETION}
    assert formats_for_method("dpo") == {DatasetFormat.PREFERENCE}
    with pytest.raises(ValueError, match="reinforcement"):
        formats_for_method("reinforcement")


@pytest.mark.parametrize(
    ("example", "fmt"),
    [
        ({"messages": []}, DatasetFormat.CHAT),
        ({"input": {}}, DatasetFormat.PREFERENCE),
        ({"non_preferred_completion": []}, DatasetFormat.PREFERENCE),
        ({"completion": "x"}, DatasetFormat.COMPLETION),
        ({"text": "x"}, None),
    ],
)
def test_detect_format(example: dict[str, object], fmt: DatasetFormat | None) -> None:
    assert detect_format(example) is fmt


@pytest.mark.parametrize(
    ("chunks", "lines"),
    [
        ([b"a\nb\n"], [b"a", b"b"]),
        ([b"a\nb"], [b"a", b"b"]),
        ([b"a", b"", b"b\n", b"\nc"], [b"ab", b"", b"c"]),
        ([b"a\r\n"], [b"a\r"]),
        ([], []),
        ([b""], []),
        ([b"\n"], [b""]),
        ([b"12345\n123456\n", b"1234", b"56789\nok"], [b"12345", None, None, b"ok"]),
        ([b"1234", b"56", b"789", b"\n", b"ok\n"], [None, b"ok"]),
    ],
)
def test_split_lines(chunks: list[bytes], lines: list[bytes | None]) -> None:
    split = list(split_lines(chunks, max_line_bytes=5))

    assert [line for _, line in split] == lines
    assert [number for number, _ in split] == list(range(1, len(lines) + 1))
