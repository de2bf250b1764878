"""Delivery rows and their attempt history. Each attempt is claimed by compare-and-set on
``attempts``, so one attempt number is sent by one worker at most, and a stale task finds its
number taken and stops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Exists, Row, and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from service.db.engine import SessionFactory
from service.db.tables import WebhookAttemptRow, WebhookDeliveryRow
from service.pagination import ListOrder, Page, fetch_page, to_page
from service.webhooks.records import (
    AttemptOutcome,
    AttemptRecord,
    DeliveryRecord,
    DeliveryStatus,
    WebhookEventType,
)


class WebhookDeliveryStore:
    """Reads and writes ``webhook_deliveries`` and ``webhook_delivery_attempts``."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def insert_new(self, records: Sequence[DeliveryRecord]) -> list[DeliveryRecord]:
        """Add the deliveries not already recorded (same endpoint, event type and subject);
        returns the ones added."""
        added = []
        for record in records:
            row = WebhookDeliveryRow(
                id=record.id,
                endpoint_id=record.endpoint_id,
                project_id=record.project_id,
                event_id=record.event_id,
                event_type=record.event_type.value,
                subject_id=record.subject_id,
                payload=record.payload,
                status=record.status.value,
                attempts=record.attempts,
                next_attempt_at=record.next_attempt_at,
                created_at=record.created_at,
                created_us=record.created_us,
            )
            try:
                async with self._sessions.begin() as session:
                    if await session.scalar(select(_same_event(record))):
                        continue
                    session.add(row)
            except IntegrityError:
                continue  # a concurrent notification recorded it first, or the endpoint went
            added.append(record)
        return added

    async def get(self, delivery_id: str) -> DeliveryRecord | None:
        """A delivery by id."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(WebhookDeliveryRow).where(WebhookDeliveryRow.id == delivery_id)
                )
            ).first()
            return None if row is None else _record(row)

    async def claim(self, delivery_id: str, attempt: int, lease_until_s: int) -> bool:
        """Take attempt number ``attempt`` of a pending delivery. ``next_attempt_at`` becomes
        the lease's end, so the overdue sweep leaves an attempt in flight alone."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.id == delivery_id,
                    WebhookDeliveryRow.status == DeliveryStatus.PENDING.value,
                    WebhookDeliveryRow.attempts == attempt - 1,
                )
                .values(attempts=attempt, next_attempt_at=lease_until_s)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def finish_attempt(
        self,
        attempt: AttemptRecord,
        *,
        status: DeliveryStatus,
        next_attempt_at: int | None,
        delivered_at: int | None,
    ) -> bool:
        """Record an attempt and, if the delivery is still on that attempt, its new state.
        False when another attempt took over or the delivery is gone (endpoint deleted)."""
        try:
            return await self._finish_attempt(attempt, status, next_attempt_at, delivered_at)
        except IntegrityError:
            return False

    async def _finish_attempt(
        self,
        attempt: AttemptRecord,
        status: DeliveryStatus,
        next_attempt_at: int | None,
        delivered_at: int | None,
    ) -> bool:
        async with self._sessions.begin() as session:
            session.add(
                WebhookAttemptRow(
                    delivery_id=attempt.delivery_id,
                    attempt=attempt.attempt,
                    attempted_at=attempt.attempted_at,
                    outcome=attempt.outcome.value,
                    duration_ms=attempt.duration_ms,
                    status_code=attempt.status_code,
                    error=attempt.error,
                )
            )
            result = await session.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.id == attempt.delivery_id,
                    WebhookDeliveryRow.status == DeliveryStatus.PENDING.value,
                    WebhookDeliveryRow.attempts == attempt.attempt,
                )
                .values(
                    status=status.value,
                    next_attempt_at=next_attempt_at,
                    delivered_at=delivered_at,
                    last_status_code=attempt.status_code,
                    last_error=attempt.error,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def give_up(self, delivery_id: str, attempts: int, error: str) -> bool:
        """Mark a pending delivery that used all ``attempts`` failed (its last attempt was
        interrupted before it could record an outcome)."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.id == delivery_id,
                    WebhookDeliveryRow.status == DeliveryStatus.PENDING.value,
                    WebhookDeliveryRow.attempts == attempts,
                )
                .values(status=DeliveryStatus.FAILED.value, next_attempt_at=None, last_error=error)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def list_page(
        self, endpoint_id: str, *, after_id: str | None, limit: int
    ) -> Page[DeliveryRecord]:
        """A page of an endpoint's deliveries, newest first."""
        async with self._sessions.read() as connection:
            rows = await fetch_page(
                connection,
                WebhookDeliveryRow,
                scope=WebhookDeliveryRow.endpoint_id == endpoint_id,
                order=ListOrder.DESC,
                after_id=after_id,
                limit=limit,
            )
            return to_page([_record(row) for row in rows], limit)

    async def attempts_of(self, delivery_ids: Sequence[str]) -> dict[str, list[AttemptRecord]]:
        """Every recorded attempt of these deliveries, oldest first."""
        found: dict[str, list[AttemptRecord]] = {delivery_id: [] for delivery_id in delivery_ids}
        if not delivery_ids:
            return found
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(WebhookAttemptRow)
                .where(WebhookAttemptRow.delivery_id.in_(delivery_ids))
                .order_by(WebhookAttemptRow.delivery_id, WebhookAttemptRow.attempt)
            )
            for row in rows:
                found[row.delivery_id].append(_attempt(row))
        return found

    async def status_counts(self) -> dict[str, int]:
        """How many deliveries are in each status (for metrics)."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(WebhookDeliveryRow.status, func.count()).group_by(WebhookDeliveryRow.status)
            )
            return {status: int(count) for status, count in rows}

    async def overdue(self, now_s: int, limit: int) -> list[DeliveryRecord]:
        """Pending deliveries whose next attempt (or in-flight lease) is past ``now_s``."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.status == DeliveryStatus.PENDING.value,
                    WebhookDeliveryRow.next_attempt_at <= now_s,
                )
                .order_by(WebhookDeliveryRow.next_attempt_at)
                .limit(limit)
            )
            return [_record(row) for row in rows]


def _same_event(record: DeliveryRecord) -> Exists:
    return exists().where(
        and_(
            WebhookDeliveryRow.endpoint_id == record.endpoint_id,
            WebhookDeliveryRow.event_type == record.event_type.value,
            WebhookDeliveryRow.subject_id == record.subject_id,
        )
    )


def _record(row: WebhookDeliveryRow | Row[Any]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        endpoint_id=row.endpoint_id,
        project_id=row.project_id,
        event_id=row.event_id,
        event_type=WebhookEventType(row.event_type),
        subject_id=row.subject_id,
        payload=row.payload,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        created_us=row.created_us,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )


def _attempt(row: WebhookAttemptRow | Row[Any]) -> AttemptRecord:
    return AttemptRecord(
        delivery_id=row.delivery_id,
        attempt=row.attempt,
        attempted_at=row.attempted_at,
        outcome=AttemptOutcome(row.outcome),
        duration_ms=row.duration_ms,
        status_code=row.status_code,
        error=row.error,
    )
