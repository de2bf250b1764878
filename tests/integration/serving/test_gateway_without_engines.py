"""The gateway when no inference replica can be reached: 503 with Retry-After, while requests
that fail before routing (unknown model, bad fields) keep their own answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from cli.keys import project_store
from service.db.engine import create_engine, create_session_factory
from service.models.fine_tuned import FineTunedModelRecord, FineTunedModelStore
from tests.support.services import RedisServer, free_port
from tests.support.stack import ApiServer, StackConfig, write_registry
from tests.support.tiny_model import TinyModels

BASE_MODEL_ID = "ftapi/tiny-chatml"


@pytest.fixture(scope="module")
def api_without_engines(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, tiny_models: TinyModels
) -> Iterator[ApiServer]:
    """An api whose only agent address has nobody listening."""
    root = tmp_path_factory.mktemp("gateway-down")
    registry = root / "models.toml"
    write_registry(registry, {BASE_MODEL_ID: tiny_models.model_dir("chatml")})
    config = StackConfig(
        data_dir=root / "stack",
        redis_url=redis_server.new_database_url(),
        extra_env={
            "FTAPI_MODELS__REGISTRY_PATH": str(registry),
            "FTAPI_SERVING__AGENT_URLS": json.dumps([f"http://127.0.0.1:{free_port()}"]),
            "FTAPI_SERVING__RETRY_AFTER_S": "7",
        },
    )
    with ApiServer(config, ctl_worker=False) as server:
        yield server


@pytest.fixture
def key(api_without_engines: ApiServer, request: pytest.FixtureRequest) -> str:
    """A fresh project's key."""
    return api_without_engines.new_key(f"gateway-down-{request.node.name}"[:120])


@pytest.fixture
def http(api_without_engines: ApiServer, key: str) -> Iterator[httpx.Client]:
    """Raw HTTP with a fresh project's key."""
    with httpx.Client(
        base_url=api_without_engines.root_url,
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/completions", {"prompt": "hi"}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "stream": True}),
    ],
)
def test_no_reachable_agent_is_503_with_retry_after(
    http: httpx.Client, route: str, body: dict[str, object]
) -> None:
    response = http.post(route, json={"model": BASE_MODEL_ID} | body)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    assert error["type"] == "service_unavailable"
    assert BASE_MODEL_ID in error["message"]


def test_an_unknown_model_is_404_before_any_agent_is_asked(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions",
        json={"model": "ft:nope:org::x", "messages": [{"role": "user", "content": "hi"}]},
    )

    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": "The model 'ft:nope:org::x' does not exist",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 3}, "n"),
        ({"temperature": 5}, "temperature"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"logit_bias": {"1": 2}}, "logit_bias"),
    ],
)
def test_bad_sampling_fields_are_400_naming_the_field(
    http: httpx.Client, extra: dict[str, object], param: str
) -> None:
    body = {"model": BASE_MODEL_ID, "messages": [{"role": "user", "content": "hi"}]} | extra

    response = http.post("/v1/chat/completions", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_a_stream_option_without_stream_is_refused(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions",
        json={
            "model": BASE_MODEL_ID,
            "messages": [{"role": "user", "content": "hi"}],
            "stream_options": {"include_usage": True},
        },
    )

    assert response.status_code == 400
    assert "stream_options" in response.json()["error"]["message"]


def test_deleting_a_model_succeeds_while_no_agent_can_be_told(
    api_without_engines: ApiServer, key: str, http: httpx.Client
) -> None:
    model = f"ft:{BASE_MODEL_ID}:org:gone:abcd1234"

    async def publish() -> None:
        settings = api_without_engines.config.settings()
        async with project_store(settings) as projects:
            caller = await projects.authenticate(key, last_used_resolution_s=0)
        assert caller is not None
        engine = create_engine(settings.database_url)
        try:
            await FineTunedModelStore(create_session_factory(engine)).insert(
                FineTunedModelRecord(
                    id=model,
                    project_id=caller.project_id,
                    organization_id=caller.organization_id,
                    job_id="ftjob-abcd1234",
                    base_model=BASE_MODEL_ID,
                    blob_prefix=f"projects/{caller.project_id}/models/ftjob-abcd1234/",
                    created_at=1_700_000_000,
                )
            )
        finally:
            await engine.dispose()

    asyncio.run(publish())
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    before = http.post("/v1/chat/completions", json=body)
    deleted = http.delete(f"/v1/models/{model}")
    after = http.post("/v1/chat/completions", json=body)

    assert before.status_code == 503  # the model resolves; no replica can serve it
    assert deleted.status_code == 200
    assert deleted.json() == {"id": model, "object": "model", "deleted": True}
    assert after.status_code == 404
    assert after.json()["error"]["code"] == "model_not_found"
