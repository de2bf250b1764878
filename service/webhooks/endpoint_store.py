"""Webhook endpoint rows; every caller-facing query filters by project."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row, delete, func, select, update

from service.db.engine import SessionFactory
from service.db.tables import WebhookEndpointRow
from service.pagination import ListOrder, Page, fetch_page, to_page
from service.webhooks.records import EndpointRecord, WebhookEventType


class WebhookEndpointStore:
    """Reads and writes ``webhook_endpoints``."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def insert(self, record: EndpointRecord) -> None:
        """Add an endpoint."""
        async with self._sessions.begin() as session:
            session.add(
                WebhookEndpointRow(
                    id=record.id,
                    project_id=record.project_id,
                    url=record.url,
                    name=record.name,
                    event_types_json=_event_types_json(record.event_types),
                    signing_secret=record.signing_secret,
                    previous_signing_secret=record.previous_signing_secret,
                    previous_secret_expires_at=record.previous_secret_expires_at,
                    created_at=record.created_at,
                    created_us=record.created_us,
                    updated_at=record.updated_at,
                )
            )

    async def get(self, project_id: str, endpoint_id: str) -> EndpointRecord | None:
        """The project's endpoint, or None (missing and foreign look alike)."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(WebhookEndpointRow).where(
                        WebhookEndpointRow.id == endpoint_id,
                        WebhookEndpointRow.project_id == project_id,
                    )
                )
            ).first()
            return None if row is None else _record(row)

    async def get_any(self, endpoint_id: str) -> EndpointRecord | None:
        """An endpoint of any project (for delivery, which starts from a delivery id)."""
        async with self._sessions.read() as connection:
            row = (
                await connection.execute(
                    select(WebhookEndpointRow).where(WebhookEndpointRow.id == endpoint_id)
                )
            ).first()
            return None if row is None else _record(row)

    async def count(self, project_id: str) -> int:
        """How many endpoints the project has."""
        async with self._sessions.read() as connection:
            found = await connection.scalar(
                select(func.count())
                .select_from(WebhookEndpointRow)
                .where(WebhookEndpointRow.project_id == project_id)
            )
            return int(found or 0)

    async def list_page(
        self, project_id: str, *, after_id: str | None, limit: int
    ) -> Page[EndpointRecord]:
        """A page of the project's endpoints, newest first."""
        async with self._sessions.read() as connection:
            rows = await fetch_page(
                connection,
                WebhookEndpointRow,
                scope=WebhookEndpointRow.project_id == project_id,
                order=ListOrder.DESC,
                after_id=after_id,
                limit=limit,
            )
            return to_page([_record(row) for row in rows], limit)

    async def subscribed(
        self, project_id: str, event_type: WebhookEventType
    ) -> list[EndpointRecord]:
        """The project's endpoints that want ``event_type``."""
        async with self._sessions.read() as connection:
            rows = await connection.execute(
                select(WebhookEndpointRow)
                .where(WebhookEndpointRow.project_id == project_id)
                .order_by(WebhookEndpointRow.created_us)
            )
            records = [_record(row) for row in rows]
        return [record for record in records if record.subscribes_to(event_type)]

    async def update(
        self, project_id: str, endpoint_id: str, **values: Any
    ) -> EndpointRecord | None:
        """Change fields (record field names); None when the project has no such endpoint."""
        columns = dict(values)
        if "event_types" in columns:
            columns["event_types_json"] = _event_types_json(columns.pop("event_types"))
        async with self._sessions.begin() as session:
            await session.execute(
                update(WebhookEndpointRow)
                .where(
                    WebhookEndpointRow.id == endpoint_id,
                    WebhookEndpointRow.project_id == project_id,
                )
                .values(**columns)
            )
            row = await session.scalar(
                select(WebhookEndpointRow)
                .where(
                    WebhookEndpointRow.id == endpoint_id,
                    WebhookEndpointRow.project_id == project_id,
                )
                .execution_options(populate_existing=True)
            )
            return None if row is None else _record(row)

    async def delete(self, project_id: str, endpoint_id: str) -> bool:
        """Remove the endpoint; its delivery log goes with it (ON DELETE CASCADE). False when
        the project has no such endpoint."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(WebhookEndpointRow).where(
                    WebhookEndpointRow.id == endpoint_id,
                    WebhookEndpointRow.project_id == project_id,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]


def _event_types_json(event_types: tuple[WebhookEventType, ...]) -> str:
    return json.dumps([event_type.value for event_type in event_types])


def _record(row: WebhookEndpointRow | Row[Any]) -> EndpointRecord:
    return EndpointRecord(
        id=row.id,
        project_id=row.project_id,
        url=row.url,
        name=row.name,
        event_types=tuple(WebhookEventType(value) for value in json.loads(row.event_types_json)),
        signing_secret=row.signing_secret,
        previous_signing_secret=row.previous_signing_secret,
        previous_secret_expires_at=row.previous_secret_expires_at,
        created_at=row.created_at,
        created_us=row.created_us,
        updated_at=row.updated_at,
    )
