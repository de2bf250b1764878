"""Telling a fine-tuning job that its model failed the parity check on an inference replica.

The agent decides (``service.serving.agent.parity``) and answers 503 ``model_unservable``; it
marks the first such answer per verdict (``FIRST_REPORT_HEADER``), and the gateway that receives
it records one event on the job that made the model, through ``UnservableRecorder`` (the job
event store, wired in by the processes: serving sits below the jobs package). A failure to
record is logged, never passed on to the caller, whose request has its own answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from service.serving.gateway.agent_client import UnservableReport
from service.serving.gateway.targets import ServingTarget

logger = logging.getLogger(__name__)


class UnservableRecorder(Protocol):
    """Where a parity failure is recorded (the job's events)."""

    async def model_unservable(self, job_id: str, model_id: str, reason: str) -> None:
        """Record that ``model_id`` of ``job_id`` cannot be served, and why."""
        ...


async def record_unservable(
    recorder: UnservableRecorder | None,
    target: ServingTarget,
    reports: Sequence[UnservableReport],
) -> None:
    """Record each agent's first report about ``target``; log the rest."""
    for report in reports:
        logger.error(
            "agent %s cannot serve %s: %s", report.agent_url, target.model_id, report.message
        )
        if not report.first_report or recorder is None or target.job_id is None:
            continue
        reason = report.message
        if target.adapter_name is not None:  # the engine-side name never reaches a user
            reason = reason.replace(target.adapter_name, target.model_id)
        try:
            await recorder.model_unservable(target.job_id, target.model_id, reason)
        except Exception:
            logger.exception("could not record the parity failure of %s", target.model_id)
