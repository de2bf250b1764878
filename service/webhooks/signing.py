"""Standard Webhooks signing (spec v1), as the ``openai`` SDK's ``webhooks.unwrap`` verifies it.

Signature: ``v1,`` + base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{body}")) where
key is the base64-decoded part of the secret after ``whsec_``. Several signatures may be sent,
space-separated (secret rotation); a verifier accepts any match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 -- a prefix, not a secret
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"
USER_AGENT = "ftapi-webhooks/1"


def new_signing_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signing_secret_hint(secret: str) -> str:
    """A masked form that lets a user tell secrets apart without revealing one."""
    return f"{SECRET_PREFIX}****{secret[-4:]}"


def _key_of(secret: str) -> bytes:
    # The SDK's rule: base64 after the prefix, else the raw UTF-8 bytes.
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()


def sign(secret: str, message_id: str, timestamp_s: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` sent as ``message_id`` at ``timestamp_s``."""
    signed = f"{message_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(_key_of(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def webhook_headers(
    message_id: str, timestamp_s: int, body: bytes, signing_secrets: Sequence[str]
) -> dict[str, str]:
    """The headers of one delivery attempt, signed with every active secret."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": " ".join(
            sign(secret, message_id, timestamp_s, body) for secret in signing_secrets
        ),
    }
