"""The Models API through the official SDK in strict mode and raw HTTP, against a live api.

Base model ids carry a ``/`` (sent raw or as ``%2F``), fine-tuned ids carry ``:``; another
project's fine-tuned model is indistinguishable from a missing one.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import openai
import pytest
from openai import OpenAI

from tests.integration.models.conftest import BASE_MODEL_ID, caller_of, publish_model
from tests.support.http_checks import assert_openai_error, raw_client
from tests.support.stack import ApiServer


@pytest.fixture
def owner_key(models_api: ApiServer, request: pytest.FixtureRequest) -> str:
    """A key of a fresh project that owns the fine-tuned models of the test."""
    return models_api.new_key(f"owner-{request.node.name}"[:120])


@pytest.fixture
def owner(models_api: ApiServer, owner_key: str) -> Iterator[OpenAI]:
    """The SDK (strict) as the owning project."""
    with OpenAI(
        base_url=models_api.base_url,
        api_key=owner_key,
        _strict_response_validation=True,
        max_retries=0,
    ) as sdk:
        yield sdk


@pytest.fixture
def owner_http(models_api: ApiServer, owner_key: str) -> Iterator[httpx.Client]:
    """Raw HTTP as the owning project."""
    with raw_client(models_api, owner_key) as http:
        yield http


@pytest.fixture
def stranger_http(models_api: ApiServer, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """Raw HTTP as another project of the same organization."""
    with raw_client(models_api, models_api.new_key(f"stranger-{request.node.name}"[:120])) as http:
        yield http


def test_list_offers_the_base_models_as_system(owner: OpenAI) -> None:
    models = list(owner.models.list())

    assert [(m.id, m.object, m.owned_by) for m in models] == [(BASE_MODEL_ID, "model", "system")]
    assert models[0].created == 0  # write_registry sets no `created`


def test_sdk_retrieves_a_base_model_sending_the_slash_encoded(owner: OpenAI) -> None:
    raw = owner.models.with_raw_response.retrieve(BASE_MODEL_ID)

    assert raw.http_request.url.raw_path.decode() == "/v1/models/ftapi%2Ftiny-chatml"
    model = raw.parse()
    assert (model.id, model.owned_by, model.created) == (BASE_MODEL_ID, "system", 0)


def test_raw_slash_and_encoded_slash_answer_the_same(owner_http: httpx.Client) -> None:
    literal = owner_http.get(f"/v1/models/{BASE_MODEL_ID}")
    encoded = owner_http.get(f"/v1/models/{quote(BASE_MODEL_ID, safe='')}")

    assert literal.status_code == 200, literal.text
    assert literal.json() == encoded.json()
    assert literal.json() == {
        "id": BASE_MODEL_ID,
        "object": "model",
        "created": 0,
        "owned_by": "system",
        "shutdown_date": None,
    }


@pytest.mark.parametrize("model_id", ["ftapi/missing", "missing", "ft:ftapi/tiny-chatml:x::y"])
def test_unknown_model_is_model_not_found(owner_http: httpx.Client, model_id: str) -> None:
    error = assert_openai_error(owner_http.get(f"/v1/models/{model_id}"), 404)

    assert error == {
        "message": f"The model '{model_id}' does not exist",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_sdk_raises_not_found_for_an_unknown_model(owner: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        owner.models.retrieve("ftapi/missing")

    assert raised.value.code == "model_not_found"


def test_fine_tuned_model_is_listed_and_retrieved(
    models_api: ApiServer, owner_key: str, owner: OpenAI, owner_http: httpx.Client
) -> None:
    record = publish_model(models_api, owner_key)
    organization = caller_of(models_api, owner_key).organization_slug
    assert record.id.startswith(f"ft:{BASE_MODEL_ID}:{organization}:tuned:")

    listed = {m.id: m for m in owner.models.list()}
    retrieved = owner.models.retrieve(record.id)
    by_raw_path = owner_http.get(f"/v1/models/{record.id}")

    assert list(listed) == [BASE_MODEL_ID, record.id]
    assert (retrieved.id, retrieved.owned_by, retrieved.created) == (
        record.id,
        organization,
        record.created_at,
    )
    assert listed[record.id] == retrieved
    assert by_raw_path.status_code == 200, by_raw_path.text
    assert by_raw_path.json()["id"] == record.id


def test_delete_makes_the_model_unavailable_at_once(
    models_api: ApiServer, owner_key: str, owner: OpenAI, owner_http: httpx.Client
) -> None:
    record = publish_model(models_api, owner_key)

    deleted = owner.models.delete(record.id)

    assert (deleted.id, deleted.object, deleted.deleted) == (record.id, "model", True)
    with pytest.raises(openai.NotFoundError):
        owner.models.retrieve(record.id)
    assert [m.id for m in owner.models.list()] == [BASE_MODEL_ID]
    again = assert_openai_error(owner_http.delete(f"/v1/models/{record.id}"), 404)
    assert again["code"] == "model_not_found"


def test_deleting_one_model_leaves_the_others(
    models_api: ApiServer, owner_key: str, owner: OpenAI
) -> None:
    first = publish_model(models_api, owner_key, suffix="first")
    second = publish_model(models_api, owner_key, suffix="second")

    owner.models.delete(first.id)

    assert [m.id for m in owner.models.list()] == [BASE_MODEL_ID, second.id]
    assert owner.models.retrieve(second.id).id == second.id


def test_base_model_cannot_be_deleted(owner_http: httpx.Client, owner: OpenAI) -> None:
    error = assert_openai_error(owner_http.delete(f"/v1/models/{BASE_MODEL_ID}"), 400)

    assert error["code"] == "model_not_deletable"
    assert error["param"] == "model"
    assert owner.models.retrieve(BASE_MODEL_ID).id == BASE_MODEL_ID


def test_another_project_cannot_see_or_delete_the_model(
    models_api: ApiServer,
    owner_key: str,
    owner: OpenAI,
    stranger_http: httpx.Client,
) -> None:
    record = publish_model(models_api, owner_key)
    missing_id = record.id[:-8] + "zzzzzzzz"

    for method in ("GET", "DELETE"):
        foreign = stranger_http.request(method, f"/v1/models/{record.id}")
        missing = stranger_http.request(method, f"/v1/models/{missing_id}")
        assert_openai_error(foreign, 404)
        assert foreign.json()["error"] == {
            **missing.json()["error"],
            "message": f"The model '{record.id}' does not exist",
        }
    listed = stranger_http.get("/v1/models").json()

    assert [m["id"] for m in listed["data"]] == [BASE_MODEL_ID]
    assert owner.models.retrieve(record.id).id == record.id  # the stranger's delete did nothing
