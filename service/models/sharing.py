"""Sharing fine-tuned models and checkpoints with other projects of the same organization.

OpenAI's checkpoint permissions need an admin key; here a project's own key shares what that
project owns. Only the owner sees or changes the grants: to anyone else the model's grants are
as missing as the model. A grantee can call and fine-tune from what it was granted (see
``service.models.access``), never delete it or share it further.
"""

from __future__ import annotations

from typing import Protocol

from service.auth.caller import Caller
from service.clock import Clock, to_seconds
from service.errors import InvalidRequest, NotFound
from service.ids import IdPrefix, new_id
from service.models.access import AdapterModel, ModelAccess
from service.models.permissions import PermissionRecord, PermissionStore
from service.pagination import ListOrder, Page, require_page_limit


class ProjectDirectory(Protocol):
    """Looks projects up by id (``ProjectStore``)."""

    async def system_caller(self, project_id: str) -> Caller | None: ...


class ModelSharing:
    """Creates, lists and revokes the caller's grants on its models and checkpoints."""

    def __init__(
        self,
        access: ModelAccess,
        store: PermissionStore,
        projects: ProjectDirectory,
        clock: Clock,
    ) -> None:
        self._access = access
        self._store = store
        self._projects = projects
        self._clock = clock

    async def share(
        self, caller: Caller, model_name: str, project_ids: list[str]
    ) -> list[PermissionRecord]:
        """Grant each project (of the caller's organization) use of the caller's model."""
        adapter = await self._own(caller, model_name)
        wanted = list(dict.fromkeys(project_ids))  # repeated ids ask for one grant
        for project_id in wanted:
            await self._check_grantee(caller, project_id)
        granted = []
        for project_id in wanted:
            now_us = self._clock.now_us()
            granted.append(
                await self._store.grant(
                    PermissionRecord(
                        id=new_id(IdPrefix.CHECKPOINT_PERMISSION),
                        model_name=adapter.name,
                        project_id=caller.project_id,
                        grantee_project_id=project_id,
                        created_at=to_seconds(now_us),
                        created_us=now_us,
                    )
                )
            )
        return granted

    async def list_permissions(
        self,
        caller: Caller,
        model_name: str,
        *,
        project_id: str | None,
        after: str | None,
        limit: int,
        order: ListOrder,
    ) -> Page[PermissionRecord]:
        """A page of the grants of the caller's model, optionally those to one project."""
        require_page_limit(limit)
        adapter = await self._own(caller, model_name)
        return await self._store.page(
            caller.project_id,
            adapter.name,
            grantee_project_id=project_id,
            order=order,
            after_id=after,
            limit=limit,
        )

    async def revoke(self, caller: Caller, model_name: str, permission_id: str) -> None:
        """Withdraw one grant; the grantee gets 404 for the model from now on."""
        adapter = await self._own(caller, model_name)
        if await self._store.revoke(caller.project_id, adapter.name, permission_id) is None:
            raise NotFound(
                f"No permission found with id '{permission_id}' on '{model_name}'.",
                param="permission_id",
                code="permission_not_found",
            )

    async def _own(self, caller: Caller, model_name: str) -> AdapterModel:
        adapter = await self._access.owned(caller.project_id, model_name)
        if adapter is None:
            raise NotFound(
                f"The fine-tuned model checkpoint '{model_name}' does not exist.",
                param="fine_tuned_model_checkpoint",
                code="model_not_found",
            )
        return adapter

    async def _check_grantee(self, caller: Caller, project_id: str) -> None:
        if project_id == caller.project_id:
            raise InvalidRequest(
                f"Project {project_id} owns this model already; share it with other projects.",
                param="project_ids",
                code="invalid_project_id",
            )
        project = await self._projects.system_caller(project_id)
        # Unknown and other-organization projects read the same: ids of other tenants stay hidden.
        if project is None or project.organization_id != caller.organization_id:
            raise InvalidRequest(
                f"Project {project_id} is not a project of this organization.",
                param="project_ids",
                code="invalid_project_id",
            )
