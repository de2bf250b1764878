"""The streaming multipart reader: same parts whatever the chunking, 4xx errors for bad bodies.

The body is cut at every chunk size and at every single position, so a part delimiter, a CRLF or
a near-miss of the boundary inside the file data lands on each side of a chunk edge at least once:
that is where off-by-one bugs in buffer handling live.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from service.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from service.http.multipart import (
    MAX_PARTS,
    MAX_TEXT_FIELD_BYTES,
    MultipartReader,
    Part,
    boundary_of,
)

BOUNDARY = b"----ftapiBoundary7MA4YWxkTrZu0gW"
DELIMITER = b"\r\n--" + BOUNDARY

# File data that looks like framing: CRLFs, dashes, every proper prefix of the delimiter, a CR
# at both ends, and all 256 byte values.
TRICKY_FILE_BYTES = (
    b"\r\n--\r\n"
    + b"".join(DELIMITER[:k] + b"|" for k in range(1, len(DELIMITER)))
    + b"x--"
    + BOUNDARY
    + b"--\r\n"
    + bytes(range(256))
    + b"\r\n\r\n\r"
)


@dataclass(frozen=True)
class FormPart:
    """One part as the test writes it and expects to read it back."""

    name: str
    filename: str | None
    body: bytes


FORM = (
    FormPart("purpose", None, b"fine-tune"),
    FormPart("file", "train.jsonl", TRICKY_FILE_BYTES),
    FormPart("note", None, "ünïcode ✓".encode()),
    FormPart("empty", None, b""),
)


def encode_form(parts: Sequence[FormPart], boundary: bytes = BOUNDARY) -> bytes:
    """A multipart/form-data body written by hand (RFC 7578), not by the code under test."""
    out = bytearray()
    for part in parts:
        disposition = f'form-data; name="{part.name}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        out += b"--" + boundary + b"\r\n"
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if part.filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + part.body + b"\r\n"
    out += b"--" + boundary + b"--\r\n"
    return bytes(out)


BODY = encode_form(FORM)


async def _stream(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def read_form(chunks: Iterable[bytes], boundary: bytes = BOUNDARY) -> list[FormPart]:
    """Every part and its whole body, read through the reader as the routes do."""
    reader = MultipartReader(_stream(chunks), boundary)
    parts = []
    while (part := await reader.next_part()) is not None:
        body = b"".join([chunk async for chunk in reader.iter_body()])
        parts.append(FormPart(part.name, part.filename, body))
    return parts


def chunked(body: bytes, size: int) -> list[bytes]:
    """``body`` in chunks of ``size`` bytes (the last one shorter)."""
    return [body[i : i + size] for i in range(0, len(body), size)]


def split_at(body: bytes, positions: Iterable[int]) -> list[bytes]:
    """``body`` cut at the given positions (empty pieces dropped)."""
    edges = [0, *sorted(set(positions)), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges) if b > a]


async def test_whole_body_in_one_chunk_gives_every_part() -> None:
    assert await read_form([BODY]) == list(FORM)


@pytest.mark.parametrize("chunk_size", range(1, 71))
async def test_every_chunk_size_gives_identical_parts(chunk_size: int) -> None:
    assert await read_form(chunked(BODY, chunk_size)) == list(FORM)


async def test_a_single_cut_at_every_position_gives_identical_parts() -> None:
    for position in range(1, len(BODY)):
        parts = await read_form(split_at(BODY, [position]))
        assert parts == list(FORM), f"cut at byte {position}"


async def test_cuts_on_both_sides_of_every_delimiter_give_identical_parts() -> None:
    # Two cuts within 70 bytes of each delimiter: the delimiter arrives in three pieces.
    starts = [0] + [i for i in range(len(BODY)) if BODY.startswith(DELIMITER, i)]
    assert len(starts) == len(FORM) + 1
    for start in starts:
        window = range(max(1, start - 35), min(len(BODY), start + len(DELIMITER) + 35))
        for first in window:
            for second in (first + 1, first + 2, first + len(BOUNDARY) // 2, first + len(BOUNDARY)):
                parts = await read_form(split_at(BODY, [first, second]))
                assert parts == list(FORM), f"cuts at {first} and {second}"


_FRAMING_PIECES = st.sampled_from(
    [b"\r", b"\n", b"\r\n", b"-", b"--", b"\r\n--", BOUNDARY[:1], BOUNDARY[:-1], b"x", b"\x00"]
)
_FILE_BYTES = st.lists(st.one_of(_FRAMING_PIECES, st.binary(max_size=16)), max_size=40).map(
    b"".join
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), file_bytes=_FILE_BYTES, text=st.text(max_size=40))
def test_random_content_and_random_cuts_give_identical_parts(
    data: st.DataObject, file_bytes: bytes, text: str
) -> None:
    assume(DELIMITER not in b"\r\n" + file_bytes + b"\r\n")  # the RFC forbids it in content
    form = [
        FormPart("purpose", None, text.encode()),
        FormPart("file", "f.jsonl", file_bytes),
    ]
    body = encode_form(form)
    cuts = data.draw(st.lists(st.integers(1, len(body) - 1), max_size=12), label="cuts")

    assert asyncio.run(read_form(split_at(body, cuts))) == form


async def test_next_part_skips_an_unread_body() -> None:
    reader = MultipartReader(_stream(chunked(BODY, 7)), BOUNDARY)
    names = []
    while (part := await reader.next_part()) is not None:
        names.append(part)
    assert names == [Part(p.name, p.filename) for p in FORM]


async def test_preamble_and_epilogue_are_ignored() -> None:
    body = b"This is a preamble.\r\n" + BODY + b"and an epilogue\r\n"
    assert await read_form(chunked(body, 5)) == list(FORM)


async def test_read_text_decodes_utf8() -> None:
    reader = MultipartReader(_stream(chunked(BODY, 3)), BOUNDARY)
    texts = {}
    while (part := await reader.next_part()) is not None:
        if part.filename is None:
            texts[part.name] = await reader.read_text(part.name)
    assert texts == {"purpose": "fine-tune", "note": "ünïcode ✓", "empty": ""}


async def test_read_text_accepts_exactly_the_limit_and_refuses_one_byte_more() -> None:
    at_limit = encode_form([FormPart("purpose", None, b"a" * MAX_TEXT_FIELD_BYTES)])
    reader = MultipartReader(_stream(chunked(at_limit, 4096)), BOUNDARY)
    assert await reader.next_part() == Part("purpose", None)
    assert len(await reader.read_text("purpose")) == MAX_TEXT_FIELD_BYTES

    over = encode_form([FormPart("purpose", None, b"a" * (MAX_TEXT_FIELD_BYTES + 1))])
    reader = MultipartReader(_stream(chunked(over, 4096)), BOUNDARY)
    await reader.next_part()
    with pytest.raises(PayloadTooLarge) as excinfo:
        await reader.read_text("purpose")
    assert excinfo.value.param == "purpose"


async def test_read_text_refuses_invalid_utf8_naming_the_field() -> None:
    body = encode_form([FormPart("purpose", None, b"fine\xff\xfetune")])
    reader = MultipartReader(_stream([body]), BOUNDARY)
    await reader.next_part()
    with pytest.raises(InvalidRequest) as excinfo:
        await reader.read_text("purpose")
    assert excinfo.value.param == "purpose"


async def test_more_parts_than_allowed_is_payload_too_large() -> None:
    allowed = encode_form([FormPart(f"f{i}", None, b"x") for i in range(MAX_PARTS)])
    assert len(await read_form([allowed])) == MAX_PARTS

    too_many = encode_form([FormPart(f"f{i}", None, b"x") for i in range(MAX_PARTS + 1)])
    with pytest.raises(PayloadTooLarge):
        await read_form(chunked(too_many, 64))


async def test_every_truncation_is_an_invalid_request() -> None:
    # Complete up to the closing "--boundary--"; any shorter prefix is an unfinished body.
    complete_length = BODY.rindex(b"--" + BOUNDARY + b"--") + len(BOUNDARY) + 4
    assert await read_form([BODY[:complete_length]]) == list(FORM)
    for length in range(complete_length):
        with pytest.raises(InvalidRequest):
            await read_form(chunked(BODY[:length], 16))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"no multipart here at all", id="garbage"),
        pytest.param(
            b"--" + BOUNDARY + b"\r\nX-Note: 1\r\n\r\nabc\r\n--" + BOUNDARY + b"--\r\n",
            id="no-content-disposition",
        ),
        pytest.param(
            b"--" + BOUNDARY + b"\r\nnot a header\r\n\r\nabc\r\n--" + BOUNDARY + b"--\r\n",
            id="malformed-header-line",
        ),
        pytest.param(
            b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="a"\r\n',
            id="headers-never-end",
        ),
        pytest.param(
            b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="a"\r\n\r\n'
            b"body without a closing delimiter",
            id="unterminated-body",
        ),
        pytest.param(
            b"--"
            + BOUNDARY
            + b'\r\nContent-Disposition: form-data; name="a"\r\n'
            + b"X-Long: "
            + b"h" * 10_000
            + b"\r\n\r\nabc\r\n--"
            + BOUNDARY
            + b"--\r\n",
            id="header-too-long",
        ),
    ],
)
async def test_malformed_bodies_are_client_errors(body: bytes) -> None:
    with pytest.raises((InvalidRequest, PayloadTooLarge)):
        await read_form(chunked(body, 11))


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300), chunk_size=st.integers(1, 64))
def test_arbitrary_bytes_never_crash_the_reader(body: bytes, chunk_size: int) -> None:
    # A client error is the only acceptable failure; anything else propagates and fails the test.
    with contextlib.suppress(InvalidRequest, PayloadTooLarge):
        asyncio.run(read_form(chunked(b"--" + BOUNDARY + body, chunk_size)))


@pytest.mark.parametrize("boundary", [b"", b"with\r\nnewline"])
def test_an_unusable_boundary_is_an_invalid_request_naming_the_header(boundary: bytes) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        MultipartReader(_stream([]), boundary)
    assert excinfo.value.param == "Content-Type"


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data; boundary=abc123", b"abc123"),
        ('multipart/form-data; boundary="quoted boundary"', b"quoted boundary"),
        ("Multipart/Form-Data; charset=utf-8; Boundary=XyZ", b"XyZ"),
        ("multipart/form-data;boundary=----WebKitFormBoundary", b"----WebKitFormBoundary"),
    ],
)
def test_boundary_of_reads_the_boundary_parameter(content_type: str, boundary: bytes) -> None:
    assert boundary_of(content_type) == boundary


@pytest.mark.parametrize("content_type", [None, "", "application/json", "text/plain; boundary=x"])
def test_boundary_of_refuses_other_media_types(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as excinfo:
        boundary_of(content_type)
    assert excinfo.value.status_code == 415


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; charset=utf-8"],
)
def test_boundary_of_without_a_boundary_is_an_invalid_request(content_type: str) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        boundary_of(content_type)
    assert excinfo.value.param == "Content-Type"
