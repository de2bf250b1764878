"""Cursor pages over a stable total order, shared by every list endpoint.

Lists are ordered by ``(created_us, id)``; ``after`` is strictly after that object in the
requested order, and ``has_more`` is honest because one extra row is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

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


def to_page(rows: list[T], limit: int) -> Page[T]:
    """A page from rows fetched with one row of look-ahead."""
    return Page(items=rows[:limit], has_more=len(rows) > limit)
