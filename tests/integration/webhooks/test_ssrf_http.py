"""With the default settings the api refuses webhook URLs that reach internal addresses."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.webhooks.receiver import WebhookReceiver
from tests.support.stack import ApiServer


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/hooks", "127.0.0.1: it is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "it is a link-local address"),
        ("http://2130706433:{port}/", "2130706433: it is a loopback address"),
        ("http://0x7f.1:{port}/", "0x7f.1: it is a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/", "it is a loopback address"),
        ("http://localhost:{port}/", "localhost: it resolves to 127.0.0.1, a loopback address"),
        ("http://10.0.0.8/", "it is a private address"),
        ("http://100.64.1.1/", "carrier-grade NAT"),
        ("http://[fd00:ec2::254]/", "unique-local IPv6"),
    ],
)
def test_internal_targets_are_refused_at_create_naming_url(
    guarded_api: ApiServer, receiver: WebhookReceiver, url: str, reason: str
) -> None:
    key = guarded_api.new_key("ssrf")
    with httpx.Client(
        base_url=guarded_api.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        response = http.post("/webhook_endpoints", json={"url": url.format(port=receiver.port)})
        listed = http.get("/webhook_endpoints").json()

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "url"
    assert error["code"] == "invalid_webhook_url"
    assert reason in error["message"]
    assert listed["data"] == []
    assert receiver.requests == []


def test_an_update_to_an_internal_url_is_refused_and_changes_nothing(
    guarded_api: ApiServer,
) -> None:
    key = guarded_api.new_key("ssrf-update")
    with httpx.Client(
        base_url=guarded_api.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        created = http.post("/webhook_endpoints", json={"url": "https://93.184.216.34/hook"})
        endpoint_id = created.json()["id"]
        response = http.post(
            f"/webhook_endpoints/{endpoint_id}", json={"url": "http://169.254.169.254/"}
        )
        kept = http.get(f"/webhook_endpoints/{endpoint_id}").json()

    assert created.status_code == 200
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "url"
    assert kept["url"] == "https://93.184.216.34/hook"
