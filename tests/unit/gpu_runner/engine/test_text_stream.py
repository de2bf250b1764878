"""Releasing generated text piece by piece: pieces join up, stop strings cut, nothing leaks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gpu_runner.engine.text_stream import TextStream

VOCAB = ["He", "llo", " wor", "ld", "!", " ", "\n", "STOP", "ST", "OP", "é"]


def decode(ids: list[int]) -> str:
    return "".join(VOCAB[i] for i in ids)


def run(ids: list[int], stop: list[str]) -> tuple[list[str], TextStream]:
    stream = TextStream(decode, stop)
    pieces = []
    for token_id in ids:
        pieces.append(stream.push(token_id))
        if stream.stopped_by is not None:
            break
    pieces.append(stream.finish())
    return [piece for piece in pieces if piece], stream


def test_without_stop_strings_every_token_is_released_at_once() -> None:
    pieces, stream = run([0, 1, 2, 3], [])
    assert pieces == ["He", "llo", " wor", "ld"]
    assert stream.text == "Hello world"
    assert stream.stopped_by is None


def test_a_stop_string_split_over_tokens_is_held_back_and_cut() -> None:
    pieces, stream = run([0, 1, 8, 9, 4], ["STOP"])
    assert "".join(pieces) == "Hello"
    assert all("S" not in piece for piece in pieces)
    assert stream.stopped_by == "STOP"


def test_the_earliest_stop_string_wins() -> None:
    _, stream = run([0, 5, 1, 4, 7], ["STOP", "llo"])
    assert stream.text == "He "
    assert stream.stopped_by == "llo"


def test_an_unfinished_character_waits_for_its_last_byte() -> None:
    pieces = [b"ab", b"\xc3", b"\xa9", b"\xe6\x9d", b"\xb1"]  # "ab", then é and 東 split

    def decode_bytes(ids: list[int]) -> str:
        return b"".join(pieces[i] for i in ids).decode("utf-8", errors="replace")

    stream = TextStream(decode_bytes, [])
    assert [stream.push(i) for i in range(5)] == ["ab", "", "é", "", "東"]
    assert stream.finish() == ""
    assert stream.text == "abé東"

    cut_short = TextStream(decode_bytes, [])
    assert cut_short.push(1) == ""
    assert cut_short.finish() == "\ufffd"  # what is left when generation ends mid-character


@given(
    ids=st.lists(st.integers(0, len(VOCAB) - 1), max_size=30),
    stop=st.lists(st.sampled_from(["STOP", "o w", "!", "ld!", "\n\n"]), max_size=3),
)
def test_pieces_always_join_to_the_text_cut_before_the_first_stop(
    ids: list[int], stop: list[str]
) -> None:
    pieces, stream = run(ids, stop)
    full = decode(ids)
    cuts = [full.find(text) for text in stop if text in full]
    expected = full[: min(cuts)] if cuts else full
    assert "".join(pieces) == stream.text == expected
