"""Routes under ``/v1/fine_tuning``: jobs, their events and checkpoints, and the estimate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeAlias

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.response import ServerSentEvent
from litestar.response.base import ASGIResponse
from litestar.response.sse import ServerSentEventMessage

from service.auth.caller import Caller
from service.datasets.schemas import DatasetReportObject
from service.http.dependencies import CallerDep
from service.http.schemas import CursorPage
from service.jobs.preflight import JobPreflight
from service.jobs.schemas import (
    CheckpointObject,
    EstimateObject,
    FineTuningJobEventObject,
    FineTuningJobObject,
    JobCreate,
    JobProblemObject,
    ResolvedHyperparametersObject,
)
from service.jobs.service import JobService

STREAM_POLL_INTERVAL_S = 0.5

JobsDep: TypeAlias = NamedDependency[JobService]
PreflightDep: TypeAlias = NamedDependency[JobPreflight]


class _EventStream(ServerSentEvent):
    """An SSE response that keeps ``text/event-stream`` when its handler may also answer JSON.

    Litestar passes the handler's media type (JSON here, for the paged answer) to the response,
    and streaming responses prefer it to their own despite the docstring saying otherwise.
    """

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        kwargs["media_type"] = None
        return super().to_asgi_response(*args, **kwargs)


JobIdPath = FromPath[str]
After = Annotated[str | None, QueryParameter(description="Cursor: the last id of a page.")]


def _metadata_filter(request: Request[Any, Any, Any]) -> dict[str, str]:
    """``metadata[key]=value`` query pairs (the SDK's bracket encoding of a dict)."""
    pairs = {}
    for name, value in request.query_params.items():
        if name.startswith("metadata[") and name.endswith("]"):
            pairs[name[len("metadata[") : -1]] = value
    return pairs


class FineTuningController(Controller):
    """Fine-tuning jobs and their extensions."""

    path = "/fine_tuning"
    tags = ("Fine-tuning",)

    @post("/jobs", status_code=200, summary="Create a fine-tuning job")
    async def create_job(
        self,
        caller: CallerDep,
        jobs: JobsDep,
        data: JSONBody[JobCreate],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                required=False,
                max_length=255,
                description="The same key and body return the same job.",
            ),
        ] = None,
    ) -> FineTuningJobObject:
        """Check the request (model, files, method and format, quotas) and create the job in
        ``validating_files``; validation and training then run on the queues."""
        job = await jobs.create(
            caller,
            data.to_domain(),
            request_hash=data.fingerprint(),
            idempotency_key=idempotency_key,
        )
        return FineTuningJobObject.of(job)

    @get("/jobs", summary="List fine-tuning jobs")
    async def list_jobs(
        self,
        request: Request[Caller, str, Any],
        caller: CallerDep,
        jobs: JobsDep,
        after: After = None,
        limit: Annotated[int, QueryParameter(description="1 to 100.")] = 20,
    ) -> CursorPage[FineTuningJobObject]:
        """Newest first; ``metadata[key]=value`` filters (every pair must match)."""
        page = await jobs.list_jobs(
            caller, after=after, limit=limit, metadata=_metadata_filter(request)
        )
        return CursorPage.of(
            [FineTuningJobObject.of(job) for job in page.items], has_more=page.has_more
        )

    @get("/jobs/{job_id:str}", summary="Retrieve a fine-tuning job")
    async def retrieve_job(
        self, caller: CallerDep, jobs: JobsDep, job_id: JobIdPath
    ) -> FineTuningJobObject:
        """A job, its hyperparameters (resolved once validated) and its outcome."""
        return FineTuningJobObject.of(await jobs.get(caller, job_id))

    @post("/jobs/{job_id:str}/cancel", status_code=200, summary="Cancel a fine-tuning job")
    async def cancel_job(
        self, caller: CallerDep, jobs: JobsDep, job_id: JobIdPath
    ) -> FineTuningJobObject:
        """Cancel a job that has not finished; a running trainer is stopped."""
        return FineTuningJobObject.of(await jobs.cancel(caller, job_id))

    @post("/jobs/{job_id:str}/pause", status_code=200, summary="Pause a fine-tuning job")
    async def pause_job(
        self, caller: CallerDep, jobs: JobsDep, job_id: JobIdPath
    ) -> FineTuningJobObject:
        """Pause a queued or running job (it checkpoints and frees its GPU); ``paused`` is true
        and ``status`` reads ``queued`` until it is resumed."""
        return FineTuningJobObject.of(await jobs.pause(caller, job_id))

    @post("/jobs/{job_id:str}/resume", status_code=200, summary="Resume a fine-tuning job")
    async def resume_job(
        self, caller: CallerDep, jobs: JobsDep, job_id: JobIdPath
    ) -> FineTuningJobObject:
        """Queue a paused job again; it continues from its latest checkpoint."""
        return FineTuningJobObject.of(await jobs.resume(caller, job_id))

    @get("/jobs/{job_id:str}/events", summary="List fine-tuning events")
    async def list_events(
        self,
        request: Request[Caller, str, Any],
        caller: CallerDep,
        jobs: JobsDep,
        job_id: JobIdPath,
        after: After = None,
        limit: Annotated[int, QueryParameter(description="1 to 100.")] = 20,
        stream: Annotated[
            bool,
            QueryParameter(
                description="Extension: Server-Sent Events, oldest first from `after` "
                "(or Last-Event-ID), following the job until it ends."
            ),
        ] = False,
    ) -> CursorPage[FineTuningJobEventObject] | ServerSentEvent:
        """The job's events, newest first; with ``stream=true`` a live SSE stream instead."""
        if stream:
            await jobs.get(caller, job_id)
            start = request.headers.get("last-event-id") or after
            return _EventStream(_follow(jobs, caller, job_id, start))
        page = await jobs.events(caller, job_id, after=after, limit=limit)
        return CursorPage.of(
            [FineTuningJobEventObject.of(e) for e in page.items], has_more=page.has_more
        )

    @get("/jobs/{job_id:str}/checkpoints", summary="List fine-tuning checkpoints")
    async def list_checkpoints(
        self,
        caller: CallerDep,
        jobs: JobsDep,
        job_id: JobIdPath,
        after: After = None,
        limit: Annotated[int, QueryParameter(description="1 to 100.")] = 10,
    ) -> CursorPage[CheckpointObject]:
        """The job's checkpoints, newest first."""
        page, best = await jobs.checkpoints(caller, job_id, after=after, limit=limit)
        return CursorPage.of(
            [CheckpointObject.of(c, is_best=c.step_number == best) for c in page.items],
            has_more=page.has_more,
        )

    @post("/estimate", status_code=200, summary="Estimate a job (extension)")
    async def estimate_job(
        self, caller: CallerDep, preflight: PreflightDep, data: JSONBody[JobCreate]
    ) -> EstimateObject:
        """Takes the body of ``POST /v1/fine_tuning/jobs`` and answers, without creating a job:
        the resolved hyperparameters, estimated trained tokens and duration, the dataset reports,
        and every problem that would make the job fail."""
        request = data.to_domain()
        result = await preflight.check(caller, request)
        hyper = result.hyperparameters
        return EstimateObject(
            model=request.model,
            method=request.method.type.value,
            ok=result.ok,
            problems=[
                JobProblemObject(code=p.code, message=p.message, param=p.param)
                for p in result.problems
            ],
            hyperparameters=None
            if hyper is None
            else ResolvedHyperparametersObject(
                n_epochs=hyper.n_epochs,
                batch_size=hyper.batch_size,
                learning_rate_multiplier=hyper.learning_rate_multiplier,
                beta=hyper.beta,
                learning_rate=result.learning_rate,
            ),
            estimated_trained_tokens=result.estimated_trained_tokens,
            estimated_duration_seconds=result.estimated_duration_s,
            training_report=None
            if result.training_report is None
            else DatasetReportObject.of(request.training_file, result.training_report),
            validation_report=None
            if result.validation_report is None or request.validation_file is None
            else DatasetReportObject.of(request.validation_file, result.validation_report),
        )


async def _follow(
    jobs: JobService, caller: Caller, job_id: str, after: str | None
) -> AsyncIterator[ServerSentEventMessage]:
    """Replay events after ``after``, then poll for new ones until the job is terminal."""
    while True:
        job = await jobs.get(caller, job_id)
        for event in await jobs.events_since(caller, job_id, after):
            after = event.id
            yield ServerSentEventMessage(
                data=FineTuningJobEventObject.of(event).model_dump_json(),
                event="fine_tuning.job.event",
                id=event.id,
            )
        if job.status.is_terminal:
            # Events written with the terminal transition were read after the status above.
            for event in await jobs.events_since(caller, job_id, after):
                yield ServerSentEventMessage(
                    data=FineTuningJobEventObject.of(event).model_dump_json(),
                    event="fine_tuning.job.event",
                    id=event.id,
                )
            yield ServerSentEventMessage(data="[DONE]", event="done")
            return
        await asyncio.sleep(STREAM_POLL_INTERVAL_S)
