"""Job, event, checkpoint and metadata rows. Status changes are compare-and-set with an event."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, and_, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.clock import Clock, to_seconds
from service.db.engine import SessionFactory
from service.db.tables import CheckpointRow, JobEventRow, JobMetadataRow, JobRow
from service.ids import IdPrefix, new_id
from service.jobs.evaluation import JobEvaluation, best_step
from service.jobs.method_columns import method_columns, method_of
from service.jobs.records import (
    CheckpointRecord,
    EventLevel,
    EventType,
    JobError,
    JobEvent,
    JobRecord,
    NewEvent,
)
from service.jobs.state_machine import JobStatus, can_transition
from service.models.pending_blobs import add_pending_in, adopt_in
from service.pagination import ListOrder, Page, fetch_page, to_page

# Built once: building a statement costs a lookup as much CPU as running it.
_PROJECT_JOB = select(JobRow).where(
    JobRow.id == bindparam("job_id"), JobRow.project_id == bindparam("project_id")
)


class JobStore:
    """Reads and writes jobs; every tenant-facing read filters by project."""

    def __init__(self, sessions: SessionFactory, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    # -- jobs ------------------------------------------------------------------------------

    async def insert(
        self,
        record: JobRecord,
        events: Sequence[NewEvent],
        *,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> None:
        """Add a job, its metadata pairs and its first events in one transaction."""
        async with self._sessions.begin() as session:
            session.add(_row_of(record, idempotency_key, request_hash))
            await session.flush()  # the job row first: metadata and events reference it
            for key, value in (record.metadata or {}).items():
                session.add(JobMetadataRow(job_id=record.id, key=key, value=value))
            for event in events:
                self._add_event(session, record.id, event)

    async def get(self, project_id: str, job_id: str) -> JobRecord | None:
        """The project's job, or None."""
        async with self._sessions.read() as connection:
            result = await connection.execute(
                _PROJECT_JOB, {"job_id": job_id, "project_id": project_id}
            )
            row = result.first()
            return None if row is None else _record_of(row)

    async def get_any(self, job_id: str) -> JobRecord | None:
        """A job by id alone (workers only)."""
        async with self._sessions.read() as connection:
            row = (await connection.execute(select(JobRow).where(JobRow.id == job_id))).first()
            return None if row is None else _record_of(row)

    async def by_idempotency_key(self, project_id: str, key: str) -> tuple[JobRecord, str] | None:
        """The job created with this key, and the hash of the request that created it."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(JobRow).where(
                        JobRow.project_id == project_id, JobRow.idempotency_key == key
                    )
                )
            ).first()
            return None if row is None else (_record_of(row), row.request_hash or "")

    async def list_page(
        self,
        project_id: str,
        *,
        after_id: str | None,
        limit: int,
        metadata: dict[str, str],
    ) -> Page[JobRecord]:
        """Newest first; ``metadata`` pairs must all match."""
        async with self._sessions.read() as connection:
            query = select(JobRow).where(JobRow.project_id == project_id)
            for key, value in metadata.items():
                query = query.where(
                    exists().where(
                        JobMetadataRow.job_id == JobRow.id,
                        JobMetadataRow.key == key,
                        JobMetadataRow.value == value,
                    )
                )
            rows = await fetch_page(
                connection,
                JobRow,
                scope=JobRow.project_id == project_id,
                order=ListOrder.DESC,
                after_id=after_id,
                limit=limit,
                query=query,
            )
            return to_page([_record_of(row) for row in rows], limit)

    async def count_by_status(self, project_id: str, statuses: Sequence[JobStatus]) -> int:
        """How many of the project's jobs are in one of ``statuses``."""
        async with self._sessions.read() as connection:
            total = await connection.scalar(
                select(func.count())
                .select_from(JobRow)
                .where(JobRow.project_id == project_id, JobRow.status.in_(list(statuses)))
            )
            return int(total or 0)

    async def status_counts(self) -> dict[str, int]:
        """How many jobs of every project are in each status (for metrics)."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(JobRow.status, func.count()).group_by(JobRow.status)
            )
            return {status: int(count) for status, count in rows}

    async def latest_metrics(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The newest metrics event's data of each job (for metrics)."""
        if not job_ids:
            return {}
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(JobEventRow.job_id, JobEventRow.data_json)
                .where(
                    JobEventRow.job_id.in_(list(job_ids)),
                    JobEventRow.type == EventType.METRICS.value,
                )
                .order_by(JobEventRow.created_us.desc())
            )
            latest: dict[str, dict[str, Any]] = {}
            for job_id, data_json in rows:
                if job_id not in latest and data_json is not None:
                    latest[job_id] = json.loads(data_json)
            return latest

    async def in_statuses(self, statuses: Sequence[JobStatus], limit: int) -> list[JobRecord]:
        """Jobs of every project in one of ``statuses`` (the reconciler's view)."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(JobRow)
                .where(JobRow.status.in_(list(statuses)))
                .order_by(JobRow.created_us)
                .limit(limit)
            )
            return [_record_of(row) for row in rows]

    async def transition(
        self,
        job_id: str,
        old: JobStatus,
        new: JobStatus,
        event: NewEvent | None,
        *,
        expected_attempt: int | None = None,
        **values: Any,
    ) -> JobRecord | None:
        """Move ``old → new`` if the job is still ``old`` (and on ``expected_attempt``, if given).

        Returns the updated job, or None when another actor got there first.
        """
        async with self._sessions.begin() as session:
            return await self.transition_in(
                session,
                job_id,
                old,
                new,
                [] if event is None else [event],
                expected_attempt=expected_attempt,
                **values,
            )

    async def transition_in(
        self,
        session: AsyncSession,
        job_id: str,
        old: JobStatus,
        new: JobStatus,
        events: Sequence[NewEvent],
        *,
        expected_attempt: int | None = None,
        **values: Any,
    ) -> JobRecord | None:
        """``transition`` inside the caller's transaction (a publication's), appending
        ``events`` in order when the job moves."""
        if not can_transition(old, new):
            raise ValueError(f"transition {old} -> {new} is not in the table")
        columns = {"status": new.value} | _column_values(values)
        condition = and_(JobRow.id == job_id, JobRow.status == old.value)
        if expected_attempt is not None:
            condition = and_(condition, JobRow.attempt == expected_attempt)
        result = await session.execute(update(JobRow).where(condition).values(**columns))
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        for event in events:
            self._add_event(session, job_id, event)
        row = await session.scalar(
            select(JobRow).where(JobRow.id == job_id).execution_options(populate_existing=True)
        )
        return None if row is None else _record_of(row)

    async def update_running(self, job_id: str, attempt: int, **values: Any) -> bool:
        """Update fields of a running job owned by ``attempt`` (heartbeat, estimates)."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(JobRow)
                .where(
                    JobRow.id == job_id,
                    JobRow.status == JobStatus.RUNNING.value,
                    JobRow.attempt == attempt,
                )
                .values(**_column_values(values))
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # -- events ----------------------------------------------------------------------------

    async def add_event(self, job_id: str, event: NewEvent) -> None:
        """Append one event."""
        async with self._sessions.begin() as session:
            self._add_event(session, job_id, event)

    async def events_page(self, job_id: str, *, after_id: str | None, limit: int) -> Page[JobEvent]:
        """Newest first, strictly older than ``after_id``."""
        rows = await self._job_rows(JobEventRow, job_id, after_id, ListOrder.DESC, limit)
        return to_page([_event_of(row) for row in rows], limit)

    async def events_since(self, job_id: str, after_id: str | None, limit: int) -> list[JobEvent]:
        """Oldest first, strictly newer than ``after_id`` (for following a job live)."""
        rows = await self._job_rows(JobEventRow, job_id, after_id, ListOrder.ASC, limit)
        return [_event_of(row) for row in rows][:limit]

    # -- checkpoints -------------------------------------------------------------------------

    async def add_checkpoint(
        self,
        record: CheckpointRecord,
        event: NewEvent,
        *,
        attempt: int,
        keep: int,
        best_metric: str | None = None,
    ) -> list[CheckpointRecord] | None:
        """Record a checkpoint that ``attempt`` saved, with its event, and delete all but the
        ``keep`` highest-step checkpoints and the best one by ``best_metric`` (if any has it),
        in one transaction fenced by the attempt's claim.

        None (nothing written) when the job is no longer running on ``attempt``, when the step
        was recorded already, or when the sweep took the checkpoint's pending blobs. Otherwise
        the pruned checkpoints: their blobs are pending until the caller deletes them.
        """
        async with self._sessions.begin() as session:
            # Locks the job row until commit: a cancel or re-queue of the job waits for this
            # checkpoint, or this checkpoint finds the job no longer held.
            held = await session.execute(
                update(JobRow)
                .where(
                    JobRow.id == record.job_id,
                    JobRow.status == JobStatus.RUNNING.value,
                    JobRow.attempt == attempt,
                )
                .values(heartbeat_us=self._clock.now_us())
            )
            if not held.rowcount:  # type: ignore[attr-defined]
                return None
            found = await session.scalar(
                select(CheckpointRow.id).where(
                    CheckpointRow.job_id == record.job_id,
                    CheckpointRow.step_number == record.step_number,
                )
            )
            if found is not None or not await adopt_in(session, [record.blob_prefix]):
                return None
            session.add(
                CheckpointRow(
                    id=record.id,
                    job_id=record.job_id,
                    project_id=record.project_id,
                    created_at=record.created_at,
                    created_us=record.created_us,
                    step_number=record.step_number,
                    metrics_json=json.dumps(record.metrics),
                    fine_tuned_model_checkpoint=record.fine_tuned_model_checkpoint,
                    blob_prefix=record.blob_prefix,
                )
            )
            self._add_event(session, record.job_id, event)
            # Like OpenAI, keep the newest few: older checkpoints (and their models) go, but
            # the best one stays callable (``is_best`` in the checkpoint list).
            rows = list(
                await session.scalars(
                    select(CheckpointRow)
                    .where(CheckpointRow.job_id == record.job_id)
                    .order_by(CheckpointRow.step_number.desc())
                )
            )
            best = None
            if best_metric is not None:
                best = best_step(
                    ((row.step_number, json.loads(row.metrics_json)) for row in rows), best_metric
                )
            pruned = [row for row in rows[keep:] if row.step_number != best]
            for row in pruned:
                await session.delete(row)
            add_pending_in(
                session,
                record.job_id,
                attempt,
                [row.blob_prefix for row in pruned],
                now_s=to_seconds(self._clock.now_us()),
            )
            return [_checkpoint_of(row) for row in pruned]

    async def checkpoints_page(
        self, job_id: str, *, after_id: str | None, limit: int
    ) -> Page[CheckpointRecord]:
        """Newest first."""
        rows = await self._job_rows(CheckpointRow, job_id, after_id, ListOrder.DESC, limit)
        return to_page([_checkpoint_of(row) for row in rows], limit)

    async def checkpoint_metrics(self, job_id: str) -> list[tuple[int, dict[str, float]]]:
        """Step and metrics of each of the job's checkpoints (a job keeps a handful)."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(CheckpointRow.step_number, CheckpointRow.metrics_json).where(
                    CheckpointRow.job_id == job_id
                )
            )
            return [(step, json.loads(metrics_json)) for step, metrics_json in rows]

    async def latest_checkpoint(self, job_id: str) -> CheckpointRecord | None:
        """The checkpoint with the highest step."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(CheckpointRow)
                    .where(CheckpointRow.job_id == job_id)
                    .order_by(CheckpointRow.step_number.desc())
                    .limit(1)
                )
            ).first()
            return None if row is None else _checkpoint_of(row)

    # -- helpers ---------------------------------------------------------------------------

    def _add_event(self, session: AsyncSession, job_id: str, event: NewEvent) -> None:
        now_us = self._clock.now_us()
        session.add(
            JobEventRow(
                id=new_id(IdPrefix.JOB_EVENT),
                job_id=job_id,
                created_at=to_seconds(now_us),
                created_us=now_us,
                level=event.level.value,
                message=event.message,
                type=event.type.value,
                data_json=None if event.data is None else json.dumps(event.data),
            )
        )

    async def _job_rows(
        self,
        table: type[JobEventRow] | type[CheckpointRow],
        job_id: str,
        after_id: str | None,
        order: ListOrder,
        limit: int,
    ) -> list[Row[Any]]:
        """A keyset page of one job's events or checkpoints (one row of look-ahead)."""
        async with self._sessions.read() as connection:
            return await fetch_page(
                connection,
                table,
                scope=table.job_id == job_id,
                order=order,
                after_id=after_id,
                limit=limit,
            )


def _column_values(values: dict[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for name, value in values.items():
        if name == "error":
            error: JobError | None = value
            columns |= {
                "error_code": None if error is None else error.code,
                "error_message": None if error is None else error.message,
                "error_param": None if error is None else error.param,
            }
        elif name == "method":
            columns |= method_columns(value)
        elif name == "result_files":
            columns["result_files_json"] = json.dumps(value)
        elif name == "eval_summary":
            columns["eval_summary_json"] = None if value is None else json.dumps(value)
        else:
            columns[name] = value
    return columns


def _row_of(record: JobRecord, idempotency_key: str | None, request_hash: str | None) -> JobRow:
    return JobRow(
        id=record.id,
        project_id=record.project_id,
        organization_id=record.organization_id,
        model=record.model,
        training_file=record.training_file,
        validation_file=record.validation_file,
        suffix=record.suffix,
        seed=record.seed,
        **method_columns(record.method),
        integrations_json=None if record.integrations is None else json.dumps(record.integrations),
        metadata_json=None if record.metadata is None else json.dumps(record.metadata),
        status=record.status.value,
        attempt=record.attempt,
        result_files_json=json.dumps(record.result_files),
        created_at=record.created_at,
        created_us=record.created_us,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        evaluation_json=None
        if record.evaluation is None
        else json.dumps(record.evaluation.to_json()),
        eval_summary_json=None if record.eval_summary is None else json.dumps(record.eval_summary),
    )


def _record_of(row: JobRow | Row[Any]) -> JobRecord:
    error = None
    if row.error_code is not None:
        error = JobError(
            code=row.error_code, message=row.error_message or "", param=row.error_param
        )
    return JobRecord(
        id=row.id,
        project_id=row.project_id,
        organization_id=row.organization_id,
        model=row.model,
        training_file=row.training_file,
        validation_file=row.validation_file,
        suffix=row.suffix,
        seed=row.seed,
        method=method_of(row.method_json),
        integrations=None if row.integrations_json is None else json.loads(row.integrations_json),
        metadata=None if row.metadata_json is None else json.loads(row.metadata_json),
        status=JobStatus(row.status),
        created_at=row.created_at,
        created_us=row.created_us,
        attempt=row.attempt,
        error=error,
        fine_tuned_model=row.fine_tuned_model,
        trained_tokens=row.trained_tokens,
        result_files=json.loads(row.result_files_json),
        finished_at=row.finished_at,
        estimated_finish=row.estimated_finish,
        heartbeat_us=row.heartbeat_us,
        evaluation=None
        if row.evaluation_json is None
        else JobEvaluation.from_json(json.loads(row.evaluation_json)),
        eval_summary=None if row.eval_summary_json is None else json.loads(row.eval_summary_json),
        learning_rate=row.learning_rate,
    )


def _event_of(row: JobEventRow | Row[Any]) -> JobEvent:
    return JobEvent(
        id=row.id,
        job_id=row.job_id,
        created_at=row.created_at,
        created_us=row.created_us,
        level=EventLevel(row.level),
        message=row.message,
        type=EventType(row.type),
        data=None if row.data_json is None else json.loads(row.data_json),
    )


def _checkpoint_of(row: CheckpointRow | Row[Any]) -> CheckpointRecord:
    return CheckpointRecord(
        id=row.id,
        job_id=row.job_id,
        project_id=row.project_id,
        created_at=row.created_at,
        created_us=row.created_us,
        step_number=row.step_number,
        metrics=json.loads(row.metrics_json),
        fine_tuned_model_checkpoint=row.fine_tuned_model_checkpoint,
        blob_prefix=row.blob_prefix,
    )
