"""Client filenames become safe display metadata: no path, no control characters, bounded length."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import InvalidRequest
from service.files.naming import extension_of, sanitize_filename
from service.files.service import check_file_spec

MAX_CHARS = 255


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("../../etc/passwd", "passwd", id="dot-dot-traversal"),
        pytest.param("/etc/shadow", "shadow", id="absolute-path"),
        pytest.param("..\\..\\windows\\system32\\cmd.exe", "cmd.exe", id="backslash-traversal"),
        pytest.param("C:\\Users\\me\\train.jsonl", "train.jsonl", id="windows-path"),
        pytest.param("a/b\\c/d.jsonl", "d.jsonl", id="mixed-separators"),
        pytest.param("./train.jsonl", "train.jsonl", id="dot-slash"),
        pytest.param("train.jsonl", "train.jsonl", id="plain"),
        pytest.param("  train.jsonl  ", "train.jsonl", id="surrounding-spaces"),
        pytest.param("données ✓ 训练.jsonl", "données ✓ 训练.jsonl", id="unicode-kept"),
        pytest.param("tr\x00ain\n.json\rl\t", "train.jsonl", id="control-characters"),
        pytest.param("\x1b[31mred.txt", "[31mred.txt", id="terminal-escape"),
        pytest.param("evil\u202elpnosj.exe", "evillpnosj.exe", id="right-to-left-override"),
        pytest.param("zero\u200bwidth.jsonl", "zerowidth.jsonl", id="zero-width-space"),
        pytest.param(".hidden", ".hidden", id="leading-dot-kept-as-text"),
    ],
)
def test_sanitize_keeps_only_a_safe_last_component(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        " ",
        "\x00\x01\x02",
        ".",
        "..",
        "../",
        "dir/",
        "a/..",
        "\\",
        "/..",
        " .. ",
        "\u200b",
    ],
)
def test_names_with_nothing_left_fall_back_to_upload(raw: str | None) -> None:
    assert sanitize_filename(raw) == "upload"


def test_a_very_long_name_is_cut_to_255_characters_keeping_its_extension() -> None:
    name = sanitize_filename("a" * 10_000 + ".jsonl")

    assert len(name) == MAX_CHARS
    assert name.endswith("a.jsonl")
    assert extension_of(name) == ".jsonl"


def test_a_long_name_with_an_overlong_extension_is_simply_cut() -> None:
    name = sanitize_filename("a" * 300 + "." + "b" * 100)

    assert name == "a" * MAX_CHARS


def test_a_name_of_exactly_255_characters_is_kept() -> None:
    raw = "b" * (MAX_CHARS - len(".jsonl")) + ".jsonl"
    assert sanitize_filename(raw) == raw


def test_a_long_non_jsonl_name_cannot_slip_past_the_fine_tune_rule() -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        check_file_spec("fine-tune", "x" * 400 + ".csv")
    assert excinfo.value.param == "file"


def test_the_stored_name_of_a_traversal_attempt_is_its_last_component() -> None:
    spec = check_file_spec("fine-tune", "../../../../srv/data/train.jsonl")
    assert spec.filename == "train.jsonl"


@pytest.mark.parametrize(
    ("filename", "extension"),
    [
        ("train.jsonl", ".jsonl"),
        ("TRAIN.JSONL", ".jsonl"),
        ("archive.tar.gz", ".gz"),
        ("upload", None),
        (".jsonl", None),  # a dot file, not an extension
        ("trailing.", None),
    ],
)
def test_extension_of(filename: str, extension: str | None) -> None:
    assert extension_of(filename) == extension


@given(st.text(max_size=600))
def test_any_name_sanitizes_to_one_safe_component(raw: str) -> None:
    name = sanitize_filename(raw)

    assert 1 <= len(name) <= MAX_CHARS
    assert "/" not in name
    assert "\\" not in name
    assert name not in {".", ".."}
    assert name == name.strip()
    assert all(unicodedata.category(ch)[0] != "C" for ch in name)
    assert sanitize_filename(name) == name  # sanitizing is idempotent
