"""Routes of the Evals API: ``/v1/evals`` and its runs and output items, as the ``openai``
SDK's ``client.evals``, ``client.evals.runs`` and ``client.evals.runs.output_items`` call them."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from service.evals.eval_store import UNSET
from service.evals.records import OutputItemStatus, RunStatus
from service.evals.run_service import RunDraft, RunService
from service.evals.schemas import (
    EvalCreate,
    EvalDeleted,
    EvalObject,
    EvalUpdate,
    OutputItemObject,
    RunCreate,
    RunDeleted,
    RunObject,
)
from service.evals.service import EvalDraft, EvalService
from service.http.dependencies import CallerDep
from service.http.schemas import CursorPage
from service.pagination import ListOrder

EvalsDep: TypeAlias = NamedDependency[EvalService]
EvalRunsDep: TypeAlias = NamedDependency[RunService]

EvalId = FromPath[str]
RunId = FromPath[str]
After = Annotated[str | None, QueryParameter(description="Cursor: the last id of a page.")]
Limit = Annotated[int, QueryParameter(description="1 to 100.")]
Order = Annotated[
    Literal["asc", "desc"], QueryParameter(description="By creation time; default asc.")
]
OrderBy = Annotated[
    Literal["created_at", "updated_at"],
    QueryParameter(
        description="Evals change only their name and metadata, so both order by creation."
    ),
]
RunStatusFilter = Annotated[
    Literal["queued", "in_progress", "completed", "canceled", "failed"] | None,
    QueryParameter(description="Only runs with this status."),
]
ItemStatusFilter = Annotated[
    Literal["pass", "fail", "error"] | None,
    QueryParameter(description="Only items with this status (error: an ftapi extension)."),
]


class EvalsController(Controller):
    """Evals: an item schema and the testing criteria its samples are graded by."""

    path = "/evals"
    tags = ("Evals",)

    @post("/", status_code=200, summary="Create an eval")
    async def create_eval(
        self, caller: CallerDep, evals: EvalsDep, data: JSONBody[EvalCreate]
    ) -> EvalObject:
        """Create an eval from a ``custom`` data source config and its testing criteria. Every
        criterion is checked now: its type, its template variables against the item schema, and
        that the project may call the models it asks. A refusal names the field in ``param``
        (``testing_criteria[1].reference``) and stores nothing."""
        draft = EvalDraft(
            name=data.name,
            metadata=data.metadata,
            data_source_config=data.data_source_config,
            testing_criteria=data.testing_criteria,
        )
        return EvalObject.of(await evals.create(caller, draft))

    @get("/", summary="List evals")
    async def list_evals(
        self,
        caller: CallerDep,
        evals: EvalsDep,
        after: After = None,
        limit: Limit = 20,
        order: Order = "asc",
        order_by: OrderBy = "created_at",
    ) -> CursorPage[EvalObject]:
        """The project's evals by creation time."""
        page = await evals.list_evals(caller, after=after, limit=limit, order=ListOrder(order))
        return CursorPage.of(
            [EvalObject.of(record) for record in page.items], has_more=page.has_more
        )

    @get("/{eval_id:str}", summary="Retrieve an eval")
    async def retrieve_eval(
        self, caller: CallerDep, evals: EvalsDep, eval_id: EvalId
    ) -> EvalObject:
        """An eval of the project."""
        return EvalObject.of(await evals.get(caller, eval_id))

    @post("/{eval_id:str}", status_code=200, summary="Update an eval")
    async def update_eval(
        self, caller: CallerDep, evals: EvalsDep, eval_id: EvalId, data: JSONBody[EvalUpdate]
    ) -> EvalObject:
        """Rename an eval or replace its metadata (``null`` clears it). Its schema and criteria
        do not change: runs of one eval stay comparable."""
        given = data.model_fields_set
        record = await evals.update(
            caller,
            eval_id,
            name=data.name if "name" in given and data.name is not None else UNSET,
            metadata=data.metadata if "metadata" in given else UNSET,
        )
        return EvalObject.of(record)

    @delete("/{eval_id:str}", status_code=200, summary="Delete an eval")
    async def delete_eval(self, caller: CallerDep, evals: EvalsDep, eval_id: EvalId) -> EvalDeleted:
        """Delete an eval with its runs and their output items; running runs stop."""
        await evals.delete(caller, eval_id)
        return EvalDeleted(deleted=True, eval_id=eval_id)


class EvalRunsController(Controller):
    """Runs of an eval over a data source, and the output items they graded."""

    path = "/evals/{eval_id:str}/runs"
    tags = ("Evals",)

    @post("/", status_code=200, summary="Create an eval run")
    async def create_run(
        self, caller: CallerDep, eval_runs: EvalRunsDep, eval_id: EvalId, data: JSONBody[RunCreate]
    ) -> RunObject:
        """Start a run: the data source is checked against the eval (inline rows against its
        item schema, the file's owner, the model's access, template variables), the run is
        stored ``queued`` and a ctl worker runs it. The rows of a ``file_id`` source are read
        by the worker (a file may be large): a row there that breaks the schema fails its item
        rather than this request."""
        draft = RunDraft(name=data.name, metadata=data.metadata, data_source=data.data_source)
        return RunObject.of(await eval_runs.create(caller, eval_id, draft))

    @get("/", summary="List eval runs")
    async def list_runs(
        self,
        caller: CallerDep,
        eval_runs: EvalRunsDep,
        eval_id: EvalId,
        after: After = None,
        limit: Limit = 20,
        order: Order = "asc",
        status: RunStatusFilter = None,
    ) -> CursorPage[RunObject]:
        """The eval's runs by creation time."""
        page = await eval_runs.list_runs(
            caller,
            eval_id,
            status=None if status is None else RunStatus(status),
            after=after,
            limit=limit,
            order=ListOrder(order),
        )
        return CursorPage.of(
            [RunObject.of(record) for record in page.items], has_more=page.has_more
        )

    @get("/{run_id:str}", summary="Retrieve an eval run")
    async def retrieve_run(
        self, caller: CallerDep, eval_runs: EvalRunsDep, eval_id: EvalId, run_id: RunId
    ) -> RunObject:
        """A run with its counts so far."""
        return RunObject.of(await eval_runs.get(caller, eval_id, run_id))

    @post("/{run_id:str}", status_code=200, summary="Cancel an eval run")
    async def cancel_run(
        self, caller: CallerDep, eval_runs: EvalRunsDep, eval_id: EvalId, run_id: RunId
    ) -> RunObject:
        """Cancel a queued or running run (OpenAI's documented path); sampling stops within
        seconds and the items graded so far stay."""
        return RunObject.of(await eval_runs.cancel(caller, eval_id, run_id))

    @post("/{run_id:str}/cancel", status_code=200, summary="Cancel an eval run (SDK path)")
    async def cancel_run_sdk(
        self, caller: CallerDep, eval_runs: EvalRunsDep, eval_id: EvalId, run_id: RunId
    ) -> RunObject:
        """The same cancel, where ``client.evals.runs.cancel`` sends it."""
        return RunObject.of(await eval_runs.cancel(caller, eval_id, run_id))

    @delete("/{run_id:str}", status_code=200, summary="Delete an eval run")
    async def delete_run(
        self, caller: CallerDep, eval_runs: EvalRunsDep, eval_id: EvalId, run_id: RunId
    ) -> RunDeleted:
        """Delete a run and its output items; a running run stops."""
        await eval_runs.delete(caller, eval_id, run_id)
        return RunDeleted(deleted=True, run_id=run_id)

    @get("/{run_id:str}/output_items", summary="List an eval run's output items")
    async def list_output_items(
        self,
        caller: CallerDep,
        eval_runs: EvalRunsDep,
        eval_id: EvalId,
        run_id: RunId,
        after: After = None,
        limit: Limit = 20,
        order: Order = "asc",
        status: ItemStatusFilter = None,
    ) -> CursorPage[OutputItemObject]:
        """The items graded so far, each with its sample and every criterion's result."""
        page = await eval_runs.list_output_items(
            caller,
            eval_id,
            run_id,
            status=None if status is None else OutputItemStatus(status),
            after=after,
            limit=limit,
            order=ListOrder(order),
        )
        return CursorPage.of(
            [OutputItemObject.of(record) for record in page.items], has_more=page.has_more
        )

    @get("/{run_id:str}/output_items/{output_item_id:str}", summary="Retrieve an output item")
    async def retrieve_output_item(
        self,
        caller: CallerDep,
        eval_runs: EvalRunsDep,
        eval_id: EvalId,
        run_id: RunId,
        output_item_id: FromPath[str],
    ) -> OutputItemObject:
        """One graded item of a run."""
        return OutputItemObject.of(
            await eval_runs.get_output_item(caller, eval_id, run_id, output_item_id)
        )
