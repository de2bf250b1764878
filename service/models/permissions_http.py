"""Routes of checkpoint permissions: ``/v1/fine_tuning/checkpoints/{name}/permissions[/{id}]``.

``{name}`` is a checkpoint's or a fine-tuned model's ``ft:`` name, which holds ``:`` and may hold
``/`` (a base id such as ``org/model``; newer SDKs send it as ``%2F``, which the server decodes
before routing). Litestar's ``path`` parameters must end a route, so one ``path`` parameter takes
everything after ``/checkpoints`` and the handlers split off the ``/permissions`` tail.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter

from service.errors import NotFound
from service.http.dependencies import CallerDep
from service.http.schemas import CursorPage
from service.models.schemas import PermissionCreate, PermissionDeleted, PermissionObject
from service.models.sharing import ModelSharing
from service.pagination import ListOrder

SharingDep: TypeAlias = NamedDependency[ModelSharing]

_PERMISSIONS = "/permissions"

CheckpointPath = Annotated[
    str,
    PathParameter(
        description=(
            "`{fine_tuned_model_checkpoint}/permissions` (create, list) or "
            "`{fine_tuned_model_checkpoint}/permissions/{permission_id}` (delete); the "
            "checkpoint or fine-tuned model name may hold `/`, raw or as `%2F`."
        )
    ),
]
_ORDERS = {"ascending": ListOrder.ASC, "descending": ListOrder.DESC}


def _model_name(path: str) -> str:
    """The model name of ``/{name}/permissions``."""
    name = path.removeprefix("/").removesuffix(_PERMISSIONS)
    if not path.endswith(_PERMISSIONS) or not name:
        raise _no_route(path)
    return name


def _name_and_permission(path: str) -> tuple[str, str]:
    """The model name and permission id of ``/{name}/permissions/{permission_id}``."""
    head, separator, permission_id = path.removeprefix("/").rpartition(_PERMISSIONS + "/")
    if not separator or not head or not permission_id or "/" in permission_id:
        raise _no_route(path)
    return head, permission_id


def _no_route(path: str) -> NotFound:
    # As for any unknown route: only .../permissions and .../permissions/{id} exist here.
    return NotFound(f"Invalid URL (/v1/fine_tuning/checkpoints{path})")


class CheckpointPermissionsController(Controller):
    """Sharing the project's fine-tuned models and checkpoints with projects of its organization."""

    path = "/fine_tuning/checkpoints"
    tags = ("Fine-tuning",)

    @post("/{checkpoint:path}", status_code=200, summary="Create checkpoint permissions")
    async def create_permissions(
        self,
        caller: CallerDep,
        sharing: SharingDep,
        checkpoint: CheckpointPath,
        data: JSONBody[PermissionCreate],
    ) -> CursorPage[PermissionObject]:
        """Share one of the project's fine-tuned models or checkpoints with other projects of
        its organization; they can then list, call and fine-tune from it. Granting a project
        twice returns its existing permission."""
        granted = await sharing.share(caller, _model_name(checkpoint), data.project_ids)
        return CursorPage.of([PermissionObject.of(record) for record in granted], has_more=False)

    @get("/{checkpoint:path}", summary="List checkpoint permissions")
    async def list_permissions(
        self,
        caller: CallerDep,
        sharing: SharingDep,
        checkpoint: CheckpointPath,
        project_id: Annotated[
            str | None, QueryParameter(description="Only the permission of this project.")
        ] = None,
        after: Annotated[
            str | None, QueryParameter(description="Cursor: the `last_id` of the previous page.")
        ] = None,
        limit: Annotated[int, QueryParameter(description="1 to 100.")] = 10,
        order: Annotated[
            Literal["ascending", "descending"],
            QueryParameter(description="By creation time; newest first by default."),
        ] = "descending",
    ) -> CursorPage[PermissionObject]:
        """The permissions of one of the project's fine-tuned models or checkpoints."""
        page = await sharing.list_permissions(
            caller,
            _model_name(checkpoint),
            project_id=project_id,
            after=after,
            limit=limit,
            order=_ORDERS[order],
        )
        return CursorPage.of(
            [PermissionObject.of(record) for record in page.items], has_more=page.has_more
        )

    @delete("/{checkpoint:path}", status_code=200, summary="Delete a checkpoint permission")
    async def delete_permission(
        self, caller: CallerDep, sharing: SharingDep, checkpoint: CheckpointPath
    ) -> PermissionDeleted:
        """Revoke a permission: the project it named gets 404 for the model from now on."""
        model_name, permission_id = _name_and_permission(checkpoint)
        await sharing.revoke(caller, model_name, permission_id)
        return PermissionDeleted(id=permission_id, deleted=True)
