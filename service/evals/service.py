"""Evals as callers see them: create (checked in full), read, list, rename, delete.

An eval is immutable but for its name and metadata: its item schema and criteria are what its
runs are graded by, and changing them would make runs of one eval incomparable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.auth.caller import Caller
from service.clock import Clock, to_seconds
from service.errors import NotFound
from service.evals.criteria import CriteriaParser
from service.evals.eval_store import UNSET, EvalStore
from service.evals.item_schema import parse_data_source_config
from service.evals.records import EvalRecord
from service.evals.run_store import RunStore
from service.evals.run_tasks import RunTasks
from service.ids import IdPrefix, new_id
from service.pagination import ListOrder, Page, require_page_limit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalDraft:
    """What a create request asks for (its JSON parts not yet checked)."""

    name: str | None
    metadata: dict[str, str] | None
    data_source_config: dict[str, object]
    testing_criteria: list[object]


def eval_not_found(eval_id: str) -> NotFound:
    """OpenAI's 404 for an eval the caller cannot see."""
    return NotFound(f"No such eval: {eval_id[:128]}", param="eval_id")


class EvalService:
    """A project's evals."""

    def __init__(
        self,
        evals: EvalStore,
        runs: RunStore,
        criteria: CriteriaParser,
        tasks: RunTasks,
        clock: Clock,
    ) -> None:
        self._evals = evals
        self._runs = runs
        self._criteria = criteria
        self._tasks = tasks
        self._clock = clock

    async def create(self, caller: Caller, draft: EvalDraft) -> EvalRecord:
        """Check the config and every criterion, then store the eval (nothing on a 400)."""
        config = parse_data_source_config(draft.data_source_config)
        criteria = await self._criteria.parse(caller.project_id, draft.testing_criteria, config)
        now_us = self._clock.now_us()
        record = EvalRecord(
            id=new_id(IdPrefix.EVAL),
            project_id=caller.project_id,
            name=draft.name or "",
            data_source_config=config.as_answered(),
            testing_criteria=tuple(criterion.as_answered() for criterion in criteria),
            metadata=draft.metadata,
            created_at=to_seconds(now_us),
            created_us=now_us,
        )
        await self._evals.insert(record)
        return record

    async def get(self, caller: Caller, eval_id: str) -> EvalRecord:
        """The caller's eval; 404 for missing and foreign ids alike."""
        record = await self._evals.get(caller.project_id, eval_id)
        if record is None:
            raise eval_not_found(eval_id)
        return record

    async def list_evals(
        self, caller: Caller, *, after: str | None, limit: int, order: ListOrder
    ) -> Page[EvalRecord]:
        """A page of the caller's evals by creation time."""
        require_page_limit(limit)
        return await self._evals.list_page(
            caller.project_id, order=order, after_id=after, limit=limit
        )

    async def update(
        self,
        caller: Caller,
        eval_id: str,
        *,
        name: str | object = UNSET,
        metadata: dict[str, str] | object | None = UNSET,
    ) -> EvalRecord:
        """Rename the eval and/or replace its metadata (``None`` clears it)."""
        record = await self._evals.update(caller.project_id, eval_id, name=name, metadata=metadata)
        if record is None:
            raise eval_not_found(eval_id)
        return record

    async def delete(self, caller: Caller, eval_id: str) -> None:
        """Delete the eval with its runs and their items; running runs' tasks are aborted and
        stop at their next look at the (gone) row."""
        active = await self._runs.active_of_eval(caller.project_id, eval_id)
        if not await self._evals.delete(caller.project_id, eval_id):
            raise eval_not_found(eval_id)
        for run in active:
            await self._tasks.abort(run)
