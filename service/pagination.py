"""Cursor pages over a stable total order, shared by every list endpoint.

Lists are ordered by ``(created_us, id)``; ``after`` is strictly after that object in the
requested order, and ``has_more`` is honest because one extra row is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Row, Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from service.errors import InvalidRequest

T = TypeVar("T")


class ListOrder(StrEnum):
    """Sort direction by creation time."""

    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and whether more follow."""

    items: list[T]
    has_more: bool


def keyset_page_query(
    query: Select[Any],
    *,
    created_us: InstrumentedAttribute[int],
    id_column: InstrumentedAttribute[str],
    order: ListOrder,
    after: tuple[int, str] | None,
    limit: int,
) -> Select[Any]:
    """``query`` narrowed to the rows after the cursor, ordered, with one row of look-ahead."""
    key = tuple_(created_us, id_column)
    if after is not None:
        query = query.where(
            key > tuple_(*after) if order is ListOrder.ASC else key < tuple_(*after)
        )
    if order is ListOrder.ASC:
        query = query.order_by(created_us.asc(), id_column.asc())
    else:
        query = query.order_by(created_us.desc(), id_column.desc())
    return query.limit(limit + 1)


async def fetch_page(
    connection: AsyncConnection,
    table: Any,
    *,
    scope: ColumnElement[bool],
    order: ListOrder,
    after_id: str | None,
    limit: int,
    query: Select[Any] | None = None,
) -> list[Row[Any]]:
    """Rows of ``table`` within ``scope`` after the row ``after_id``, one of look-ahead.

    ``table`` has ``created_us`` and ``id`` columns; ``query`` (default: every row in ``scope``)
    may narrow further. An ``after_id`` outside ``scope`` (unknown, or another tenant's) reads
    as no cursor, so it reveals nothing.
    """
    cursor = None
    if after_id is not None:
        found = (
            await connection.execute(
                select(table.created_us, table.id).where(table.id == after_id, scope)
            )
        ).first()
        cursor = None if found is None else (found[0], found[1])
    page = keyset_page_query(
        select(table).where(scope) if query is None else query,
        created_us=table.created_us,
        id_column=table.id,
        order=order,
        after=cursor,
        limit=limit,
    )
    return list((await connection.execute(page)).all())


def require_page_limit(limit: int, maximum: int = 100) -> None:
    """OpenAI's bounds on a list's ``limit`` (1 to 100, or to ``maximum``): a 400 outside."""
    if not 1 <= limit <= maximum:
        raise InvalidRequest(f"limit must be between 1 and {maximum}.", param="limit")


def to_page(rows: list[T], limit: int) -> Page[T]:
    """A page from rows fetched with one row of look-ahead."""
    return Page(items=rows[:limit], has_more=len(rows) > limit)
