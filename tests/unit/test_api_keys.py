"""API key material: what an issued key looks like, how it is stored and what errors may echo."""

from __future__ import annotations

import hashlib
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.auth.api_keys import hash_key, issue_key, looks_like_key, redact

PREFIX = "sk-ft-"
SECRET_CHARS = 43
BASE62 = set(string.ascii_letters + string.digits)


def test_an_issued_key_is_the_prefix_and_43_base62_characters() -> None:
    issued = issue_key(PREFIX)

    assert issued.plaintext.startswith(PREFIX)
    secret = issued.plaintext.removeprefix(PREFIX)
    assert len(secret) == SECRET_CHARS
    assert set(secret) <= BASE62
    assert looks_like_key(issued.plaintext)


def test_keys_are_never_repeated_and_use_the_whole_alphabet() -> None:
    keys = [issue_key(PREFIX).plaintext for _ in range(500)]

    assert len(set(keys)) == len(keys)
    used = set().union(*(set(key.removeprefix(PREFIX)) for key in keys))
    assert used == BASE62  # 21,500 draws from 62 symbols: a missing one means a biased source


def test_the_stored_hash_is_the_sha256_of_the_plaintext_and_reveals_nothing() -> None:
    issued = issue_key(PREFIX)

    assert issued.key_hash == hashlib.sha256(issued.plaintext.encode()).hexdigest()
    assert issued.key_hash == hash_key(issued.plaintext)
    assert issued.plaintext.removeprefix(PREFIX) not in issued.key_hash
    assert hash_key(issued.plaintext + "x") != issued.key_hash


def test_the_display_prefix_shows_only_four_secret_characters() -> None:
    issued = issue_key(PREFIX)

    assert issued.display_prefix == issued.plaintext[: len(PREFIX) + 4]


def test_other_prefixes_make_valid_keys() -> None:
    issued = issue_key("ftk_live_")

    assert issued.plaintext.startswith("ftk_live_")
    assert issued.display_prefix == issued.plaintext[: len("ftk_live_") + 4]
    assert looks_like_key(issued.plaintext)


@pytest.mark.parametrize(
    "candidate",
    [
        pytest.param("", id="empty"),
        pytest.param("abc", id="short"),
        pytest.param(PREFIX, id="prefix-only"),
        pytest.param(PREFIX + "a" * (SECRET_CHARS - 1), id="secret-one-short"),
        pytest.param(PREFIX + "a" * (SECRET_CHARS - 1) + "!", id="punctuation"),
        pytest.param(PREFIX + "a" * (SECRET_CHARS - 1) + "é", id="non-ascii"),
        pytest.param(" " + PREFIX + "a" * SECRET_CHARS, id="leading-space"),
        pytest.param(PREFIX + "a" * SECRET_CHARS + "\n", id="trailing-newline"),
        pytest.param(PREFIX + "a" * 20 + " " + "a" * 23, id="inner-space"),
        pytest.param("x" * 40 + "a" * SECRET_CHARS, id="prefix-too-long"),
    ],
)
def test_malformed_tokens_do_not_look_like_keys(candidate: str) -> None:
    assert not looks_like_key(candidate)


def test_redact_keeps_only_the_ends_of_a_key() -> None:
    plaintext = issue_key(PREFIX).plaintext

    redacted = redact(plaintext)

    assert redacted == plaintext[:6] + "*" * 8 + plaintext[-4:]
    assert plaintext[6:-4] not in redacted


@pytest.mark.parametrize("length", range(20))
def test_redact_hides_short_tokens_entirely(length: int) -> None:
    token = "abcdefghijklmnopqrstuvwxyz"[:length]
    assert redact(token) == "*" * length


@given(st.text(alphabet=st.characters(exclude_characters="*"), max_size=200))
def test_redact_never_shows_more_than_ten_characters_or_half_of_a_token(token: str) -> None:
    shown = len(redact(token).replace("*", ""))
    assert shown <= min(10, len(token) // 2)
