"""The ctl worker's ``run_eval(run_id, attempt)``: claim the run, execute it, or give it up.

    the row when the task starts     the task
    ───────────────────────────────  ────────────────────────────────────────────────────────
    queued, attempts n-1             claims it as attempt n, unless its project already has
                                       max_running_runs_per_project runs in progress or this
                                       worker max_running_runs_per_worker: then ``RunBusy``
                                       (the task waits with arq's Retry; the run stays queued)
    in_progress, attempts n          resumes it (this same task, retried after an outage)
    anything else                    nothing: cancelled, finished, or another attempt's

A run whose source cannot be read any more (its file deleted since the run was created) fails
with a code that says so; a task the policy gives up fails it with ``internal_error``. A worker
shutting down hands its runs back (``in_progress → queued``) and queues their next attempt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from service.auth.caller import Caller
from service.auth.store import ProjectStore
from service.blobstore import BlobNotFound
from service.clock import Clock, to_seconds
from service.errors import NotFound
from service.evals.data_sources import parse_data_source
from service.evals.execution.attempt import RunAttempt
from service.evals.execution.item_grading import CompletionSampler, ItemGrader, parse_criteria
from service.evals.execution.sources import FileReader, RunSource, SourceUnavailable
from service.evals.execution.work_store import Claim, RunPlan, RunWorkStore
from service.evals.item_schema import CustomConfig, ItemSchema
from service.evals.model_calls import ModelCalls
from service.evals.records import RunStatus
from service.files.service import FileService
from service.graders.config import GraderCapabilities
from service.graders.model_client import BoundedGraderModels, Embeddings
from service.queue.names import QueueName, TaskName, run_eval_key
from service.queue.protocol import TaskQueue
from service.settings import EvalSettings

logger = logging.getLogger(__name__)


class RunBusy(Exception):
    """The run's project, or this worker, runs as many evals as it may; try again later."""


class RunFailure(Exception):
    """The run cannot go on for a reason its owner can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error = {"code": code, "message": message}


class EvalRunner:
    """Executes eval runs taken from the ctl queue (one per process, shared by its tasks)."""

    def __init__(
        self,
        store: RunWorkStore,
        projects: ProjectStore,
        files: FileService,
        models: ModelCalls,
        queue: TaskQueue,
        clock: Clock,
        settings: EvalSettings,
        *,
        embeddings: Embeddings | None,
    ) -> None:
        self._store = store
        self._projects = projects
        self._files = files
        self._models = models
        self._queue = queue
        self._clock = clock
        self._settings = settings
        self._embeddings = embeddings
        # The criteria were checked at create; parsed here with every capability, so a cosine
        # criterion whose embedding endpoint is gone errs on each item instead of the run.
        self._capabilities = GraderCapabilities(embeddings=True)
        self._running = 0  # runs this process executes now

    async def run(self, run_id: str, attempt: int) -> None:
        """Execute attempt ``attempt`` of the run, if it is still that attempt's to run."""
        plan = await self._store.plan(run_id)
        if plan is None:
            return
        resuming = plan.status is RunStatus.IN_PROGRESS and plan.attempts == attempt
        claimable = plan.status is RunStatus.QUEUED and plan.attempts == attempt - 1
        if not (resuming or claimable):
            return
        if claimable and self._running >= self._settings.max_running_runs_per_worker:
            raise RunBusy(plan.run_id)
        self._running += 1  # taken before the claim's await, so tasks here cannot overshoot
        try:
            if claimable and not await self._claim(plan, attempt):
                return
            await self._execute(plan, attempt)
        except RunFailure as failure:
            await self._store.fail(run_id, attempt, failure.error, now_s=self._now_s())
            logger.warning("eval run failed: %s", failure, extra={"run_id": run_id})
        except asyncio.CancelledError:
            await asyncio.shield(self._hand_back(run_id, attempt))
            raise
        finally:
            self._running -= 1

    async def give_up(self, run_id: str, attempt: int) -> None:
        """``run_eval`` was given up: the run fails with ``internal_error``."""
        error = {
            "code": "internal_error",
            "message": "The eval run stopped on an internal error; the operators have the log. "
            "Its graded items are kept; create a new run to grade the rest.",
        }
        await self._store.fail(run_id, attempt, error, now_s=self._now_s())

    async def _claim(self, plan: RunPlan, attempt: int) -> bool:
        claim = await self._store.claim(
            plan,
            attempt,
            now_s=self._now_s(),
            max_running_in_project=self._settings.max_running_runs_per_project,
        )
        if claim is Claim.BUSY:
            raise RunBusy(plan.run_id)
        return claim is Claim.CLAIMED

    async def _execute(self, plan: RunPlan, attempt: int) -> None:
        caller = await self._projects.system_caller(plan.project_id)
        if caller is None:
            raise RunFailure("project_not_found", "The run's project no longer exists.")
        data_source = parse_data_source(plan.data_source)
        schema = ItemSchema(CustomConfig.of_stored(plan.data_source_config))
        source = RunSource(data_source, schema, self._file_reader(caller))
        models = self._models.for_caller(caller)
        limit = self._settings.max_concurrent_samples_per_run
        sampler = (
            CompletionSampler(data_source, models, self._settings.default_max_completion_tokens)
            if data_source.kind == "completions"
            else None
        )
        grader = ItemGrader(
            parse_criteria(plan.testing_criteria, self._capabilities),
            sampler=sampler,
            models=BoundedGraderModels(models, limit=limit),
            embeddings=self._embeddings,
        )
        attempt_run = RunAttempt(
            plan,
            attempt,
            self._store,
            self._clock,
            max_in_flight=limit,
            heartbeat_interval_s=self._settings.heartbeat_interval_s,
        )
        try:
            await attempt_run.run(source, grader)
        except SourceUnavailable as exc:
            raise RunFailure(
                "file_not_found",
                f"The data source file {exc} no longer exists; the run cannot read its items.",
            ) from None

    def _file_reader(self, caller: Caller) -> FileReader:
        files = self._files

        async def read(file_id: str) -> AsyncIterator[bytes]:
            try:
                _, chunks = await files.content(caller, file_id)
                async for chunk in chunks:
                    yield chunk
            except (NotFound, BlobNotFound):
                raise SourceUnavailable(file_id) from None

        return read

    async def _hand_back(self, run_id: str, attempt: int) -> None:
        """Queue a run this worker stops executing (shutdown) for its next attempt."""
        try:
            if await self._store.hand_back(run_id, attempt):
                await self._queue.enqueue(
                    TaskName.RUN_EVAL,
                    run_id,
                    attempt + 1,
                    queue=QueueName.CTL,
                    key=run_eval_key(run_id, attempt + 1),
                )
                logger.info("eval run handed back", extra={"run_id": run_id, "attempt": attempt})
        except Exception as exc:  # the reconciler queues it once its heartbeat is stale
            logger.warning("could not hand eval run %s back: %s", run_id, exc)

    def _now_s(self) -> int:
        return to_seconds(self._clock.now_us())
