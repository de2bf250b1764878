"""Runs as callers see them: create (checked, then queued for a ctl worker), read, list,
cancel, delete; and the output items a run has graded.

Checked at create, so a bad run is a 400 naming the field and nothing is stored:

    what                                              param
    ────────────────────────────────────────────────  ──────────────────────────────────────
    an inline row that breaks the item schema         data_source.source.content[3].item
    a row without the sample the eval grades          data_source.source.content[3].sample
    no rows                                           data_source.source.content
    a file the project does not own (file_not_found)  data_source.source.id
    an empty file                                     data_source.source.id
    a model the project may not call                  data_source.model (model_not_found)
    a template variable items cannot have             data_source.input_messages.template[0].content

The rows of a ``file_id`` source are read by the worker (a file may be large): a row that
breaks the schema there fails its item, not the request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from service.auth.caller import Caller
from service.clock import Clock, to_seconds
from service.errors import InvalidRequest, NotFound
from service.evals.callable_models import CallableModels
from service.evals.data_sources import FileIdSource, Row, RunDataSource, parse_data_source
from service.evals.eval_store import EvalStore
from service.evals.input_messages import check_input_messages
from service.evals.item_schema import CustomConfig, ItemSchema
from service.evals.output_item_store import OutputItemStore
from service.evals.records import (
    OutputItemRecord,
    OutputItemStatus,
    ResultCounts,
    RunRecord,
    RunStatus,
)
from service.evals.run_store import CANCELLABLE, RunStore
from service.evals.run_tasks import RunTasks
from service.evals.service import eval_not_found
from service.files.service import FileService
from service.ids import IdPrefix, new_id
from service.pagination import ListOrder, Page, require_page_limit

ROWS_PARAM = "data_source.source.content"


@dataclass(frozen=True)
class RunDraft:
    """What a create request asks for (its data source not yet checked)."""

    name: str | None
    metadata: dict[str, str] | None
    data_source: dict[str, object]


def run_not_found(run_id: str) -> NotFound:
    """OpenAI's 404 for a run the caller cannot see (or not of that eval)."""
    return NotFound(f"No such eval run: {run_id[:128]}", param="run_id")


class RunService:
    """A project's eval runs and their output items."""

    def __init__(
        self,
        evals: EvalStore,
        runs: RunStore,
        items: OutputItemStore,
        files: FileService,
        models: CallableModels,
        tasks: RunTasks,
        clock: Clock,
    ) -> None:
        self._evals = evals
        self._runs = runs
        self._items = items
        self._files = files
        self._models = models
        self._tasks = tasks
        self._clock = clock

    async def create(self, caller: Caller, eval_id: str, draft: RunDraft) -> RunRecord:
        """Check the data source against the eval, store the run ``queued`` and enqueue it."""
        evaluation = await self._evals.get(caller.project_id, eval_id)
        if evaluation is None:
            raise eval_not_found(eval_id)
        source = parse_data_source(draft.data_source)
        config = CustomConfig.of_stored(evaluation.data_source_config)
        if source.rows is not None:
            # Up to a body's worth of rows through jsonschema (pure Python): off the event loop.
            await asyncio.to_thread(_check_rows, source, config)
        if isinstance(source.source, FileIdSource):
            await self._check_file(caller, source.source.id)
        if source.model is not None:
            await self._models.require(
                caller.project_id, source.model, param="data_source.model", grader=False
            )
        if source.input_messages is not None:
            check_input_messages(source.input_messages, item_schema=config.item_schema)
        now_us = self._clock.now_us()
        run_id = new_id(IdPrefix.EVAL_RUN)
        record = RunRecord(
            id=run_id,
            eval_id=evaluation.id,
            project_id=caller.project_id,
            name=draft.name or run_id,
            status=RunStatus.QUEUED,
            model=source.model,
            data_source=source.as_answered(),
            metadata=draft.metadata,
            error=None,
            total_items=None if source.rows is None else len(source.rows),
            result_counts=ResultCounts(),
            per_model_usage=(),
            per_testing_criteria_results=(),
            attempts=0,
            heartbeat_at=None,
            created_at=to_seconds(now_us),
            created_us=now_us,
            finished_at=None,
        )
        await self._runs.insert(record)
        await self._tasks.enqueue(record)
        return record

    async def get(self, caller: Caller, eval_id: str, run_id: str) -> RunRecord:
        """The caller's run of ``eval_id``; 404 otherwise."""
        record = await self._runs.get(caller.project_id, eval_id, run_id)
        if record is None:
            raise run_not_found(run_id)
        return record

    async def list_runs(
        self,
        caller: Caller,
        eval_id: str,
        *,
        status: RunStatus | None,
        after: str | None,
        limit: int,
        order: ListOrder,
    ) -> Page[RunRecord]:
        """A page of the eval's runs; 404 for an eval the caller cannot see."""
        require_page_limit(limit)
        if await self._evals.get(caller.project_id, eval_id) is None:
            raise eval_not_found(eval_id)
        return await self._runs.list_page(
            caller.project_id, eval_id, status=status, order=order, after_id=after, limit=limit
        )

    async def cancel(self, caller: Caller, eval_id: str, run_id: str) -> RunRecord:
        """Cancel a queued or running run; the worker stops sampling within seconds. A canceled
        run answers as it is; a finished one cannot be canceled."""
        while True:
            run = await self.get(caller, eval_id, run_id)
            if run.status is RunStatus.CANCELED:
                return run
            if run.status not in CANCELLABLE:
                raise InvalidRequest(
                    f"Run {run_id} has already {run.status.value}; it cannot be canceled.",
                    param="run_id",
                    code="run_not_cancellable",
                )
            done = await self._runs.cancel(run, finished_at=to_seconds(self._clock.now_us()))
            if done is not None:
                await self._tasks.abort(done)
                return done

    async def delete(self, caller: Caller, eval_id: str, run_id: str) -> None:
        """Delete the run and its output items; a running run's task is aborted."""
        run = await self.get(caller, eval_id, run_id)
        if not await self._runs.delete(caller.project_id, eval_id, run_id):
            raise run_not_found(run_id)
        if run.status in CANCELLABLE:
            await self._tasks.abort(run)

    async def list_output_items(
        self,
        caller: Caller,
        eval_id: str,
        run_id: str,
        *,
        status: OutputItemStatus | None,
        after: str | None,
        limit: int,
        order: ListOrder,
    ) -> Page[OutputItemRecord]:
        """A page of the run's output items; 404 for a run the caller cannot see."""
        require_page_limit(limit)
        await self.get(caller, eval_id, run_id)
        return await self._items.list_page(
            caller.project_id,
            eval_id,
            run_id,
            status=status,
            order=order,
            after_id=after,
            limit=limit,
        )

    async def get_output_item(
        self, caller: Caller, eval_id: str, run_id: str, item_id: str
    ) -> OutputItemRecord:
        """One output item of the caller's run; 404 otherwise."""
        record = await self._items.get(caller.project_id, eval_id, run_id, item_id)
        if record is None:
            raise NotFound(f"No such eval run output item: {item_id[:128]}", param="output_item_id")
        return record

    async def _check_file(self, caller: Caller, file_id: str) -> None:
        param = "data_source.source.id"
        try:
            record = await self._files.get(caller, file_id)
        except NotFound:
            raise InvalidRequest(
                f"No such File object: {file_id[:128]}", param=param, code="file_not_found"
            ) from None
        if record.bytes == 0:
            raise InvalidRequest(f"File {file_id} is empty: the source has no rows.", param=param)


def _check_rows(source: RunDataSource, config: CustomConfig) -> None:
    """Every inline row against the eval's schema; a jsonl row needs the sample the eval
    grades when the eval has a sample schema."""
    schema = ItemSchema(config)
    needs_sample = source.kind == "jsonl" and config.include_sample_schema
    rows: list[Row] = source.rows or []
    for index, row in enumerate(rows):
        where = f"{ROWS_PARAM}[{index}]"
        problem = schema.item_problem(row.item)
        if problem is not None:
            raise InvalidRequest(
                f"The item breaks the eval's item_schema: {problem}", param=f"{where}.item"
            )
        if not needs_sample:
            continue
        if row.sample is None:
            raise InvalidRequest(
                "This eval grades samples (include_sample_schema): each jsonl row needs a "
                "sample, or use a completions data source.",
                param=f"{where}.sample",
            )
        problem = schema.sample_problem(row.sample)
        if problem is not None:
            raise InvalidRequest(
                f"The sample breaks the eval's sample schema: {problem}", param=f"{where}.sample"
            )
