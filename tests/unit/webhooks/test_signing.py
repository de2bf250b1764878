"""Signatures made by ftapi verify with the official ``openai`` SDK, and only untampered."""

from __future__ import annotations

import base64
import json
import time

import pytest
from openai import InvalidWebhookSignatureError, OpenAI
from openai.types.webhooks import FineTuningJobSucceededWebhookEvent

from service.webhooks.events import event_body
from service.webhooks.records import WebhookEventType
from service.webhooks.signing import (
    new_signing_secret,
    sign,
    signing_secret_hint,
    webhook_headers,
)


def _delivery(secrets: list[str], *, job_id: str = "ftjob-abc") -> tuple[bytes, dict[str, str]]:
    body = event_body(
        "evt_123", WebhookEventType.FINE_TUNING_JOB_SUCCEEDED, int(time.time()), job_id
    ).encode()
    return body, webhook_headers("evt_123", int(time.time()), body, secrets)


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = new_signing_secret(), new_signing_secret()

    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert first != second


def test_the_hint_shows_only_the_last_four_characters() -> None:
    secret = new_signing_secret()

    hint = signing_secret_hint(secret)

    assert hint.endswith(secret[-4:])
    assert secret.removeprefix("whsec_")[:-4] not in hint


def test_the_sdk_unwraps_a_signed_delivery_into_the_typed_event() -> None:
    secret = new_signing_secret()
    body, headers = _delivery([secret], job_id="ftjob-xyz")

    event = OpenAI(api_key="unused", webhook_secret=secret).webhooks.unwrap(body, headers)

    assert isinstance(event, FineTuningJobSucceededWebhookEvent)
    assert event.id == "evt_123"
    assert event.data.id == "ftjob-xyz"
    assert event.object == "event"


def test_the_body_has_openais_shape() -> None:
    body = event_body("evt_1", WebhookEventType.FINE_TUNING_JOB_CANCELLED, 1700000000, "ftjob-1")

    assert json.loads(body) == {
        "id": "evt_1",
        "object": "event",
        "created_at": 1700000000,
        "type": "fine_tuning.job.cancelled",
        "data": {"id": "ftjob-1"},
    }


def test_verify_signature_accepts_the_headers_as_sent() -> None:
    secret = new_signing_secret()
    body, headers = _delivery([secret])

    OpenAI(api_key="unused").webhooks.verify_signature(body, headers, secret=secret)


def test_a_tampered_body_fails_verification() -> None:
    secret = new_signing_secret()
    body, headers = _delivery([secret], job_id="ftjob-abc")
    tampered = body.replace(b"ftjob-abc", b"ftjob-abd")

    with pytest.raises(InvalidWebhookSignatureError):
        OpenAI(api_key="unused", webhook_secret=secret).webhooks.unwrap(tampered, headers)


def test_another_secret_fails_verification() -> None:
    body, headers = _delivery([new_signing_secret()])

    with pytest.raises(InvalidWebhookSignatureError):
        OpenAI(api_key="unused").webhooks.verify_signature(
            body, headers, secret=new_signing_secret()
        )


def test_a_changed_timestamp_fails_verification() -> None:
    secret = new_signing_secret()
    body, headers = _delivery([secret])
    headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) - 1)

    with pytest.raises(InvalidWebhookSignatureError):
        OpenAI(api_key="unused").webhooks.verify_signature(body, headers, secret=secret)


def test_during_a_rotation_both_secrets_verify() -> None:
    old, new = new_signing_secret(), new_signing_secret()
    body, headers = _delivery([new, old])

    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        OpenAI(api_key="unused").webhooks.verify_signature(body, headers, secret=secret)


def test_the_signature_is_the_standard_webhooks_v1_hmac() -> None:
    # The Standard Webhooks spec's published example (standard-webhooks/spec, "Signature").
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'

    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
