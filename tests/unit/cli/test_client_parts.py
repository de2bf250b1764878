"""Pure parts of the user CLI: sizes, server-sent events, and the file window uploads read."""

from __future__ import annotations

import io
import os

import pytest

from cli.client.sse import SseEvent, iter_sse
from cli.client.units import format_bytes, parse_size
from cli.client.uploading import FileSlice


@pytest.mark.parametrize(
    ("text", "n_bytes"),
    [
        ("1024", 1024),
        ("16MiB", 16 * 1024**2),
        ("16M", 16 * 1024**2),
        ("1.5 GiB", int(1.5 * 1024**3)),
        ("5MB", 5_000_000),
        ("2kb", 2000),
        ("512KiB", 512 * 1024),
    ],
)
def test_sizes_parse_with_binary_and_decimal_units(text: str, n_bytes: int) -> None:
    assert parse_size(text) == n_bytes


@pytest.mark.parametrize("text", ["", "MiB", "-1", "0", "12 parsecs"])
def test_a_size_that_is_not_one_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|less than one byte"):
        parse_size(text)


def test_bytes_read_in_the_largest_fitting_unit() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * 1024**3) == "3.0 GiB"


def test_server_sent_events_are_split_on_blank_lines_with_type_id_and_joined_data() -> None:
    lines = [
        ": a comment",
        "event: fine_tuning.job.event",
        "id: ftevent-1",
        'data: {"a":',
        "data: 1}",
        "",
        "data: [DONE]",
        "",
        "",
        "event: done",
        "data:no space",
    ]
    assert list(iter_sse(lines)) == [
        SseEvent("fine_tuning.job.event", '{"a":\n1}', "ftevent-1"),
        SseEvent("message", "[DONE]", None),
        SseEvent("done", "no space", None),
    ]


def test_a_file_slice_reads_its_window_and_reports_each_byte_once() -> None:
    handle = io.BytesIO(b"0123456789abcdef")
    seen: list[bytes] = []
    window = FileSlice(handle, 4, 8, seen.append)
    assert window.seek(0, os.SEEK_END) == 8  # how httpx measures the length
    window.seek(0)
    assert window.read(3) + window.read() == b"456789ab"
    assert window.read() == b""
    window.seek(0)  # an encoder that rewinds and reads again reports nothing new
    assert window.read(5) == b"45678"
    assert b"".join(seen) == b"456789ab"
    assert window.tell() == 5
