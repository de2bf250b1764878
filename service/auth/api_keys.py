"""API key material: generation, hashing and the display prefix. Pure functions, no I/O.

Keys are ``<prefix><43 base62 chars>`` (~256 bits), so a plain SHA-256 is a safe verifier: there is
nothing to brute-force, and lookups by hash stay one indexed read.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from service.ids import random_token

_SECRET_LENGTH = 43
_DISPLAY_SECRET_CHARS = 4
_KEY_SHAPE = re.compile(r"^[A-Za-z0-9_-]{2,32}[A-Za-z0-9]{43}$")


@dataclass(frozen=True)
class IssuedKey:
    """A newly issued key: the plaintext is shown once and never stored."""

    plaintext: str
    key_hash: str
    display_prefix: str


def issue_key(prefix: str) -> IssuedKey:
    """A fresh key with its stored hash and display prefix."""
    plaintext = prefix + random_token(_SECRET_LENGTH)
    return IssuedKey(
        plaintext=plaintext,
        key_hash=hash_key(plaintext),
        display_prefix=plaintext[: len(prefix) + _DISPLAY_SECRET_CHARS],
    )


def hash_key(plaintext: str) -> str:
    """The hex SHA-256 of a key, as stored and looked up."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def looks_like_key(candidate: str) -> bool:
    """Whether a bearer token has the shape of an ftapi key (cheap check before any lookup)."""
    # fullmatch: with match, "$" would also accept a key followed by a newline.
    return bool(_KEY_SHAPE.fullmatch(candidate))


def redact(candidate: str) -> str:
    """What error messages may echo of a presented key: its ends only, and only when long."""
    # Below 20 characters, the 6 + 4 clear ones would be more than half of the token.
    if len(candidate) < 20:
        return "*" * len(candidate)
    return f"{candidate[:6]}{'*' * 8}{candidate[-4:]}"
