"""The failure policy every background task is registered through.

    a try of the task ...                      what happens
    ─────────────────────────────────────────  ─────────────────────────────────────────────────
    returns                                    done
    raises arq.Retry (it waits for something)  arq runs it again after the defer
    hits an outage (queue/outages.py)          tried again with exponential backoff
    raises anything else (a full blob store    given up: logged once with its traceback, counted
      too), runs past its time limit, or         (``ftapi_tasks_given_up_total``), and the task's
      fails on its last try                      ``give_up`` ends its object in its terminal error
                                                 state, which the reconciler never re-enqueues
    is cancelled (abort, worker shutdown)      re-raised for arq, which logs it as cancelled; the
                                                 object keeps its state and the reconciler picks
                                                 it up again

``give_up`` gets the task's arguments, not the failure. Where the failure says more than "an
internal error" (the line of a training file that broke validation, a full blob store), the
task ends its object with that itself before it re-raises, and ``give_up`` then finds the
object ended already.

Crons have no object: a failed pass is logged and counted, and the next tick is the retry. A pass
returns how many of its rows it gave up on (``queue/poisoned_rows.py``), each counted the same
way under the cron's name.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec

from arq import Retry
from arq.cron import CronJob, cron
from arq.worker import Function, func

from service.queue.arq_worker import C, context_of
from service.queue.names import TASKS_GIVEN_UP_KEY, TaskName
from service.queue.outages import is_outage

logger = logging.getLogger(__name__)

P = ParamSpec("P")
Task = Callable[Concatenate[C, P], Awaitable[None]]
CronPass = Callable[[C], Awaitable[int]]  # returns the rows it gave up on

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
# arq's own time limit sits past the policy's, so a task that overruns is given up by the
# policy (with its object) instead of being killed by arq with no one told.
ARQ_TIMEOUT_GRACE_S = 10


def backoff_s(job_try: int) -> float:
    """How long to wait after try ``job_try`` (1-based) met an outage."""
    return float(min(BACKOFF_BASE_S * 2 ** (job_try - 1), BACKOFF_CAP_S))


def task(
    kind: type[C],
    name: TaskName,
    run: Task[C, P],
    *,
    give_up: Task[C, P],
    max_tries: int,
    timeout_s: float,
) -> Function:
    """An arq function for ``run`` under the policy; ``give_up`` takes the same arguments and
    ends the task's object in its terminal error state."""

    @functools.wraps(run)
    async def guarded(ctx: dict[str, Any], *args: P.args, **kwargs: P.kwargs) -> None:
        context = context_of(ctx, kind)
        job_try: int = ctx.get("job_try", 1)
        last_try = job_try >= max_tries
        try:
            async with asyncio.timeout(timeout_s):
                await run(context, *args, **kwargs)
            return
        except Retry:
            if not last_try:
                raise
            failure: Exception = RuntimeError(f"still waiting after {job_try} tries")
        except Exception as exc:
            if is_outage(exc) and not last_try:
                delay_s = backoff_s(job_try)
                logger.warning(
                    "%s: %s (try %d of %d); trying again in %.0f s",
                    name.value,
                    _describe(exc),
                    job_try,
                    max_tries,
                    delay_s,
                    extra={"task": name.value, "task_args": list(args)},
                )
                raise Retry(defer=delay_s) from exc
            failure = exc
        logger.error(
            "%s gave up on try %d of %d",
            name.value,
            job_try,
            max_tries,
            exc_info=failure,
            extra={"task": name.value, "task_args": list(args)},
        )
        await _count_given_up(ctx, name)
        try:
            await give_up(context, *args, **kwargs)
        except Exception as exc:
            # Most likely the outage that made it give up; the object keeps its state and the
            # reconciler queues it again once the dependency is back.
            logger.warning("%s: could not record giving up: %s", name.value, _describe(exc))

    return func(
        guarded, name=name.value, max_tries=max_tries, timeout=timeout_s + ARQ_TIMEOUT_GRACE_S
    )


def cron_task(
    kind: type[C], name: TaskName, run: CronPass[C], *, timeout_s: float, **when: Any
) -> CronJob:
    """An arq cron for ``run``: a failed pass is logged (outages in one line) and counted, and
    so is each row a pass gave up on."""

    @functools.wraps(run)
    async def guarded(ctx: dict[str, Any]) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                rows_given_up = await run(context_of(ctx, kind))
            if rows_given_up:
                await _count_given_up(ctx, name, rows_given_up)
        except Exception as exc:
            if is_outage(exc):
                logger.warning("%s: %s; the next pass tries again", name.value, _describe(exc))
                return
            logger.error("%s pass failed", name.value, exc_info=exc, extra={"task": name.value})
            await _count_given_up(ctx, name)

    return cron(guarded, name=name.value, timeout=timeout_s + ARQ_TIMEOUT_GRACE_S, **when)


async def _count_given_up(ctx: dict[str, Any], name: TaskName, times: int = 1) -> None:
    # The count lives in a Redis hash, not in the worker: workers serve no /metrics, and the api
    # reads the hash at scrape time as it reads the queue depths. Redis is transport, so a flush
    # resets the count; Prometheus reads that as a counter reset, which rate() tolerates.
    try:
        await ctx["redis"].hincrby(TASKS_GIVEN_UP_KEY, name.value, times)
    except Exception as exc:
        logger.warning("could not count a given-up %s task: %s", name.value, _describe(exc))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
