"""Per-key rate limits against a real uvicorn api and a real Redis for the limiter.

The module's api allows 12 requests a minute with a burst of 5 (a token back every 5 s), and
6 expensive requests a minute with a burst of 2; the limiter has a Redis of its own so a test
can stop it without touching the queue's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from service.http.rate_limit import format_duration
from tests.support.services import RedisServer
from tests.support.stack import ApiServer, StackConfig

REQUESTS_PER_MINUTE = 12
BURST = 5
EXPENSIVE_PER_MINUTE = 6
EXPENSIVE_BURST = 2


@pytest.fixture(scope="module")
def limiter_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The limiter's own Redis (the queue keeps the session's)."""
    server = RedisServer(tmp_path_factory.mktemp("limiter-redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def limited_api(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, limiter_redis: RedisServer
) -> Iterator[ApiServer]:
    """An api with tight per-key limits (no workers: nothing here needs them)."""
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("rate-limited"),
        redis_url=redis_server.new_database_url(),
        extra_env={
            "FTAPI_RATE_LIMITS__REQUESTS_PER_MINUTE": str(REQUESTS_PER_MINUTE),
            "FTAPI_RATE_LIMITS__BURST": str(BURST),
            "FTAPI_RATE_LIMITS__EXPENSIVE_PER_MINUTE": str(EXPENSIVE_PER_MINUTE),
            "FTAPI_RATE_LIMITS__EXPENSIVE_BURST": str(EXPENSIVE_BURST),
            "FTAPI_RATE_LIMITS__REDIS_URL": limiter_redis.url,
            "FTAPI_RATE_LIMITS__UNAVAILABLE_COOLDOWN_S": "1",
        },
    )
    with ApiServer(config, ctl_worker=False) as server:
        yield server


@pytest.fixture
def key(limited_api: ApiServer, request: pytest.FixtureRequest) -> str:
    """A fresh key (its buckets are full)."""
    return limited_api.new_key(f"rl-{request.node.name}"[:60])


def _get_models(api: ApiServer, key: str) -> httpx.Response:
    return httpx.get(
        f"{api.base_url}/models", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def _upload(api: ApiServer, key: str) -> httpx.Response:
    return httpx.post(
        f"{api.base_url}/files",
        headers={"Authorization": f"Bearer {key}"},
        data={"purpose": "fine-tune"},
        files={"file": ("train.jsonl", b'{"messages": []}\n')},
        timeout=10,
    )


def _exhaust(api: ApiServer, key: str) -> httpx.Response:
    """Spend the burst; returns the first refusal."""
    for _ in range(BURST):
        assert _get_models(api, key).status_code == 200
    refused = _get_models(api, key)
    assert refused.status_code == 429, refused.text
    return refused


def test_the_request_after_the_burst_gets_429_in_openais_shape(
    limited_api: ApiServer, key: str
) -> None:
    remaining = []
    for _ in range(BURST):
        response = _get_models(limited_api, key)
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-requests"] == str(REQUESTS_PER_MINUTE)
        remaining.append(int(response.headers["x-ratelimit-remaining-requests"]))
        assert response.headers["x-ratelimit-reset-requests"].endswith("s")
    assert remaining == [4, 3, 2, 1, 0]

    refused = _get_models(limited_api, key)

    assert refused.status_code == 429
    assert refused.json() == {
        "error": {
            "message": refused.json()["error"]["message"],
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert refused.json()["error"]["message"].startswith("Rate limit reached for requests")
    assert 1 <= int(refused.headers["retry-after"]) <= 5
    assert 0 < int(refused.headers["retry-after-ms"]) <= 5000
    assert refused.headers["x-ratelimit-limit-requests"] == str(REQUESTS_PER_MINUTE)
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-request-id"]


def test_another_key_is_unaffected(limited_api: ApiServer, key: str) -> None:
    _exhaust(limited_api, key)
    other = limited_api.new_key("rl-other-project")

    response = _get_models(limited_api, other)

    assert response.status_code == 200
    assert response.headers["x-ratelimit-remaining-requests"] == str(BURST - 1)


def test_the_bucket_refills_after_retry_after(limited_api: ApiServer, key: str) -> None:
    refused = _exhaust(limited_api, key)

    time.sleep(int(refused.headers["retry-after-ms"]) / 1000)

    assert _get_models(limited_api, key).status_code == 200
    assert _get_models(limited_api, key).status_code == 429


def test_the_sdk_raises_without_retries_and_succeeds_with_them(
    limited_api: ApiServer, key: str
) -> None:
    _exhaust(limited_api, key)
    with (
        OpenAI(
            base_url=limited_api.base_url,
            api_key=key,
            _strict_response_validation=True,
            max_retries=0,
        ) as impatient,
        pytest.raises(openai.RateLimitError) as refused,
    ):
        impatient.models.list()
    assert refused.value.code == "rate_limit_exceeded"
    assert refused.value.type == "requests"

    with OpenAI(
        base_url=limited_api.base_url, api_key=key, _strict_response_validation=True, max_retries=2
    ) as patient:
        started = time.monotonic()
        models = patient.models.list()
    assert models.object == "list"
    assert time.monotonic() - started >= 1  # it waited for the bucket, as Retry-After said


def test_uploads_are_charged_to_the_stricter_bucket_too(limited_api: ApiServer, key: str) -> None:
    for expected_remaining in range(EXPENSIVE_BURST - 1, -1, -1):
        created = _upload(limited_api, key)
        assert created.status_code == 200, created.text
        assert created.headers["x-ratelimit-limit-requests"] == str(EXPENSIVE_PER_MINUTE)
        assert created.headers["x-ratelimit-remaining-requests"] == str(expected_remaining)

    refused = _upload(limited_api, key)

    assert refused.status_code == 429
    assert "uploads and job creations" in refused.json()["error"]["message"]
    assert refused.headers["x-ratelimit-limit-requests"] == str(EXPENSIVE_PER_MINUTE)
    # Reads still go through: the refusal charged nothing, so the request bucket has 5 - 2 left.
    listed = _get_models(limited_api, key)
    assert listed.status_code == 200
    assert listed.headers["x-ratelimit-remaining-requests"] == str(BURST - EXPENSIVE_BURST - 1)


def test_probes_and_unauthenticated_requests_are_not_limited(limited_api: ApiServer) -> None:
    for _ in range(BURST + 2):
        for path in ("/healthz", "/readyz", "/metrics"):
            response = httpx.get(f"{limited_api.root_url}{path}", timeout=10)
            assert response.status_code == 200
            assert "x-ratelimit-limit-requests" not in response.headers
        anonymous = httpx.get(f"{limited_api.base_url}/models", timeout=10)
        assert anonymous.status_code == 401


def test_requests_are_served_while_the_limiters_redis_is_down(
    limited_api: ApiServer, limiter_redis: RedisServer, key: str
) -> None:
    # More than the burst: each of these would be refused past the burst if checked.
    limiter_redis.stop()
    try:
        for _ in range(BURST + 2):
            response = _get_models(limited_api, key)
            assert response.status_code == 200
            assert "x-ratelimit-limit-requests" not in response.headers
        scraped = httpx.get(f"{limited_api.root_url}/metrics", timeout=10).text
        assert _metric(scraped, "ftapi_rate_limit_unchecked_requests_total") >= BURST + 2
    finally:
        limiter_redis.start()

    time.sleep(1.1)  # the limiter's cool-down after a failure
    recovered = _get_models(limited_api, key)
    assert recovered.status_code == 200  # a fresh Redis: the key's buckets are full again
    assert recovered.headers["x-ratelimit-remaining-requests"] == str(BURST - 1)


def _metric(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.parametrize(
    ("seconds", "written"),
    [(0.0123, "13ms"), (0.999, "999ms"), (1, "1s"), (8.64, "8.64s"), (60, "1m0s"), (361, "6m1s")],
)
def test_waits_are_written_like_openais(seconds: float, written: str) -> None:
    assert format_duration(seconds) == written
