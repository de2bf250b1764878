"""Checkpoints in the Models API and checkpoint permissions, through the official SDK in strict
mode and raw HTTP against a live api.

Jobs, checkpoints and models are written into the api's database in-process, as the runner
writes them; sharing goes through ``/v1/fine_tuning/checkpoints/{name}/permissions``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import openai
import pytest
from openai import OpenAI

from cli.keys import project_store
from service.auth.api_keys import issue_key
from service.db.engine import create_engine, create_session_factory
from service.models.fine_tuned import FineTunedModelRecord, FineTunedModelStore
from service.models.naming import checkpoint_model_name, fine_tuned_model_name
from tests.integration.models.conftest import BASE_MODEL_ID, caller_of
from tests.support.http_checks import assert_openai_error, raw_client
from tests.support.serving import insert_job_with_checkpoints
from tests.support.stack import ApiServer

CREATED_S = 1_700_000_000


@dataclass(frozen=True)
class Trained:
    """A job's names: its fine-tuned model (None until published) and its checkpoints."""

    job_id: str
    model: str
    checkpoints: list[str]


def write_job(
    server: ApiServer,
    key: str,
    *,
    steps: tuple[int, ...] = (10, 20),
    status: str = "succeeded",
    published: bool = True,
) -> Trained:
    """A job of ``key``'s project with checkpoints at ``steps`` and, if ``published``, its model."""
    caller = caller_of(server, key)
    job_id = "ftjob-" + secrets.token_hex(12)
    model = fine_tuned_model_name(BASE_MODEL_ID, caller.organization_slug, "shared", job_id)
    checkpoints = [checkpoint_model_name(model, step) for step in steps]

    async def run() -> None:
        engine = create_engine(server.config.settings().database_url)
        sessions = create_session_factory(engine)
        try:
            async with sessions.begin() as session:
                await insert_job_with_checkpoints(
                    session,
                    caller,
                    job_id,
                    base_model=BASE_MODEL_ID,
                    checkpoints=dict(zip(steps, checkpoints, strict=True)),
                    status=status,
                    created_s=CREATED_S,
                )
            if published:
                assert await FineTunedModelStore(sessions).insert(
                    FineTunedModelRecord(
                        id=model,
                        project_id=caller.project_id,
                        organization_id=caller.organization_id,
                        job_id=job_id,
                        base_model=BASE_MODEL_ID,
                        blob_prefix=f"projects/{caller.project_id}/models/{job_id}/",
                        created_at=CREATED_S + 100,
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(run())
    return Trained(job_id, model, checkpoints)


def key_in_other_organization(server: ApiServer, name: str) -> tuple[str, str]:
    """A key (and its project id) of a project in another organization of the same api."""

    async def run() -> tuple[str, str]:
        settings = server.config.settings()
        async with project_store(settings) as store:
            organization_id = await store.ensure_organization("other-org")
            project_id = await store.ensure_project(organization_id, name)
            issued = issue_key(settings.auth.key_prefix)
            await store.add_key(project_id, issued)
            return issued.plaintext, project_id

    return asyncio.run(run())


def sdk(server: ApiServer, key: str) -> OpenAI:
    """The SDK in strict mode, without retries."""
    return OpenAI(
        base_url=server.base_url, api_key=key, _strict_response_validation=True, max_retries=0
    )


@dataclass(frozen=True)
class Party:
    """One project in a test: its key, id and SDK."""

    key: str
    project_id: str
    client: OpenAI


@pytest.fixture
def parties(models_api: ApiServer, request: pytest.FixtureRequest) -> Iterator[list[Party]]:
    """Three fresh projects of the api's organization (owner first)."""
    found = []
    for role in ("owner", "grantee", "bystander"):
        key = models_api.new_key(f"{role}-{request.node.name}"[:120])
        found.append(Party(key, caller_of(models_api, key).project_id, sdk(models_api, key)))
    yield found
    for party in found:
        party.client.close()


def model_ids(client: OpenAI) -> list[str]:
    return [model.id for model in client.models.list()]


def test_models_list_and_retrieve_checkpoints_of_live_models(
    models_api: ApiServer, parties: list[Party]
) -> None:
    owner, other, _ = parties
    trained = write_job(models_api, owner.key)

    listed = {model.id: model for model in owner.client.models.list()}

    assert [name for name in listed if name.startswith("ft:")] == [
        *trained.checkpoints,
        trained.model,
    ]  # oldest first: the checkpoints were saved before the model was published
    checkpoint = listed[trained.checkpoints[0]]
    assert (checkpoint.object, checkpoint.owned_by, checkpoint.created) == (
        "model",
        "ftapi",
        CREATED_S + 1,
    )
    assert isinstance(checkpoint.created, int)
    retrieved = owner.client.models.retrieve(trained.checkpoints[1])
    assert (retrieved.id, retrieved.owned_by) == (trained.checkpoints[1], "ftapi")
    assert not set(model_ids(other.client)) & {trained.model, *trained.checkpoints}
    with pytest.raises(openai.NotFoundError):
        other.client.models.retrieve(trained.checkpoints[0])


def test_checkpoint_ids_with_a_slash_raw_or_encoded(
    models_api: ApiServer, parties: list[Party]
) -> None:
    owner = parties[0]
    name = write_job(models_api, owner.key).checkpoints[0]
    assert "/" in name
    assert ":" in name

    with raw_client(models_api, owner.key) as http:
        literal = http.get(f"/v1/models/{name}")
        encoded = http.get(f"/v1/models/{quote(name, safe=':')}")

    assert literal.status_code == 200, literal.text
    assert literal.json() == encoded.json()
    assert literal.json()["id"] == name


def test_checkpoints_of_running_jobs_are_listed_and_of_deleted_models_are_not(
    models_api: ApiServer, parties: list[Party]
) -> None:
    owner = parties[0]
    running = write_job(models_api, owner.key, status="running", published=False)
    deleted = write_job(models_api, owner.key)
    purged = write_job(models_api, owner.key, published=False)

    owner.client.models.delete(deleted.model)
    names = model_ids(owner.client)

    assert set(running.checkpoints) <= set(names)
    assert not set(names) & {deleted.model, *deleted.checkpoints}
    # A succeeded job without a model row: its model was deleted and purged.
    assert not set(names) & set(purged.checkpoints)
    for gone in deleted.checkpoints:
        with pytest.raises(openai.NotFoundError):
            owner.client.models.retrieve(gone)


def test_a_checkpoint_cannot_be_deleted_on_its_own(
    models_api: ApiServer, parties: list[Party]
) -> None:
    owner = parties[0]
    trained = write_job(models_api, owner.key)

    with raw_client(models_api, owner.key) as http:
        response = http.delete(f"/v1/models/{trained.checkpoints[0]}")

    error = assert_openai_error(response, 400)
    assert (error["code"], error["param"]) == ("model_not_deletable", "model")
    assert trained.checkpoints[0] in model_ids(owner.client)


def test_permissions_create_list_delete_with_the_sdk(
    models_api: ApiServer, parties: list[Party]
) -> None:
    owner, grantee, bystander = parties
    checkpoint = write_job(models_api, owner.key).checkpoints[0]
    permissions = owner.client.fine_tuning.checkpoints.permissions

    created = permissions.create(checkpoint, project_ids=[grantee.project_id])

    (permission,) = created.data
    assert permission.id.startswith("cp_")
    assert len(permission.id) == 3 + 24
    assert (permission.object, permission.project_id) == (
        "checkpoint.permission",
        grantee.project_id,
    )
    assert isinstance(permission.created_at, int)
    listed = list(permissions.list(checkpoint))
    assert [p.id for p in listed] == [permission.id]
    # Granting again returns the same permission.
    again = permissions.create(checkpoint, project_ids=[grantee.project_id, bystander.project_id])
    assert [p.project_id for p in again.data] == [grantee.project_id, bystander.project_id]
    assert again.data[0].id == permission.id
    only = permissions.list(checkpoint, project_id=bystander.project_id)
    assert [p.id for p in only.data] == [again.data[1].id]

    deleted = permissions.delete(permission.id, fine_tuned_model_checkpoint=checkpoint)

    assert (deleted.id, deleted.object, deleted.deleted) == (
        permission.id,
        "checkpoint.permission",
        True,
    )
    assert [p.project_id for p in permissions.list(checkpoint)] == [bystander.project_id]
    with pytest.raises(openai.NotFoundError) as missing:
        permissions.delete(permission.id, fine_tuned_model_checkpoint=checkpoint)
    assert missing.value.code == "permission_not_found"


def test_permission_pages_follow_last_id_in_either_order(
    models_api: ApiServer, parties: list[Party], request: pytest.FixtureRequest
) -> None:
    owner = parties[0]
    model = write_job(models_api, owner.key).model  # a fine-tuned model's name works too
    grantees = [
        caller_of(models_api, models_api.new_key(f"g{i}-{request.node.name}"[:120])).project_id
        for i in range(5)
    ]
    permissions = owner.client.fine_tuning.checkpoints.permissions
    created = [permissions.create(model, project_ids=[pid]).data[0] for pid in grantees]

    first = permissions.list(model, limit=2)
    descending = [p.project_id for p in permissions.list(model, limit=2)]
    ascending = [p.project_id for p in permissions.list(model, limit=2, order="ascending")]

    assert (len(first.data), first.has_more, first.last_id) == (2, True, first.data[-1].id)
    assert descending == grantees[::-1]
    assert ascending == grantees
    after = permissions.list(model, after=created[1].id, order="ascending")
    assert [p.id for p in after.data] == [c.id for c in created[2:]]
    assert not after.has_more
    with raw_client(models_api, owner.key) as http:
        path = f"/v1/fine_tuning/checkpoints/{model}/permissions"
        default = http.get(path).json()
        bad_order = http.get(path, params={"order": "asc"})
        bad_limit = http.get(path, params={"limit": 0})
    assert default["object"] == "list"
    assert default["first_id"] == created[-1].id
    assert_openai_error(bad_order, 400)
    assert assert_openai_error(bad_limit, 400)["param"] == "limit"


def test_sharing_stays_inside_the_organization(
    models_api: ApiServer, parties: list[Party], request: pytest.FixtureRequest
) -> None:
    owner, grantee, _ = parties
    checkpoint = write_job(models_api, owner.key).checkpoints[0]
    foreign_key, foreign_project = key_in_other_organization(models_api, request.node.name[:100])
    permissions = owner.client.fine_tuning.checkpoints.permissions

    for project_ids in ([foreign_project], ["proj_doesnotexist"], [owner.project_id]):
        with pytest.raises(openai.BadRequestError) as refused:
            permissions.create(checkpoint, project_ids=[grantee.project_id, *project_ids])
        assert (refused.value.code, refused.value.param) == ("invalid_project_id", "project_ids")
    # Nothing was granted by a refused request, not even its valid ids.
    assert list(permissions.list(checkpoint)) == []
    with sdk(models_api, foreign_key) as foreign:
        with pytest.raises(openai.NotFoundError):
            foreign.models.retrieve(checkpoint)
        with pytest.raises(openai.NotFoundError):
            foreign.fine_tuning.checkpoints.permissions.create(
                checkpoint, project_ids=[foreign_project]
            )


def test_only_the_owner_manages_permissions(models_api: ApiServer, parties: list[Party]) -> None:
    owner, grantee, bystander = parties
    checkpoint = write_job(models_api, owner.key).checkpoints[0]
    permission = owner.client.fine_tuning.checkpoints.permissions.create(
        checkpoint, project_ids=[grantee.project_id]
    ).data[0]

    for party in (grantee, bystander):
        other = party.client.fine_tuning.checkpoints.permissions
        with pytest.raises(openai.NotFoundError) as hidden:
            other.create(checkpoint, project_ids=[bystander.project_id])
        assert hidden.value.code == "model_not_found"
        with pytest.raises(openai.NotFoundError):
            other.list(checkpoint)
        with pytest.raises(openai.NotFoundError):
            other.delete(permission.id, fine_tuned_model_checkpoint=checkpoint)


def test_a_grant_shows_the_model_until_revoked_or_deleted(
    models_api: ApiServer, parties: list[Party]
) -> None:
    owner, grantee, bystander = parties
    trained = write_job(models_api, owner.key)
    permissions = owner.client.fine_tuning.checkpoints.permissions
    on_model = permissions.create(trained.model, project_ids=[grantee.project_id]).data[0]
    on_checkpoint = permissions.create(
        trained.checkpoints[0], project_ids=[grantee.project_id]
    ).data[0]

    shared = {model.id: model for model in grantee.client.models.list()}

    # Exactly what was shared: the model and one checkpoint, not the other checkpoint.
    assert [name for name in shared if name.startswith("ft:")] == [
        trained.checkpoints[0],
        trained.model,
    ]
    assert shared[trained.model].owned_by == "ftapi"
    assert grantee.client.models.retrieve(trained.checkpoints[0]).id == trained.checkpoints[0]
    assert not [name for name in model_ids(bystander.client) if name.startswith("ft:")]
    with raw_client(models_api, grantee.key) as http:
        refused = http.delete(f"/v1/models/{trained.model}")
    assert assert_openai_error(refused, 404)["code"] == "model_not_found"

    permissions.delete(on_checkpoint.id, fine_tuned_model_checkpoint=trained.checkpoints[0])
    with pytest.raises(openai.NotFoundError):
        grantee.client.models.retrieve(trained.checkpoints[0])
    assert grantee.client.models.retrieve(trained.model).id == trained.model

    owner.client.models.delete(trained.model)
    with pytest.raises(openai.NotFoundError):
        grantee.client.models.retrieve(trained.model)
    assert not [name for name in model_ids(grantee.client) if name.startswith("ft:")]
    with pytest.raises(openai.NotFoundError):  # the owner's grants went with the model
        permissions.delete(on_model.id, fine_tuned_model_checkpoint=trained.model)


def test_malformed_permission_paths_and_bodies_answer_in_the_envelope(
    models_api: ApiServer, parties: list[Party]
) -> None:
    owner = parties[0]
    checkpoint = write_job(models_api, owner.key).checkpoints[0]

    with raw_client(models_api, owner.key) as http:
        no_tail = http.get(f"/v1/fine_tuning/checkpoints/{checkpoint}")
        empty = http.post(
            f"/v1/fine_tuning/checkpoints/{checkpoint}/permissions", json={"project_ids": []}
        )
        extra = http.post(
            f"/v1/fine_tuning/checkpoints/{checkpoint}/permissions",
            json={"project_ids": ["proj_x"], "role": "admin"},
        )

    assert_openai_error(no_tail, 404)
    assert_openai_error(empty, 400)
    assert_openai_error(extra, 400)
