"""HTTP schema pieces shared by every resource: list envelopes, the error envelope, deletions."""

from __future__ import annotations

from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class InputModel(BaseModel):
    """Base of request bodies: unknown fields are refused, naming the field."""

    model_config = ConfigDict(extra="forbid")


class HasId(Protocol):
    @property
    def id(self) -> str: ...


WireT = TypeVar("WireT", bound=HasId)


class CursorPage(BaseModel, Generic[T]):
    """OpenAI's list envelope with cursor paging (``after`` = ``last_id``)."""

    object: Literal["list"] = "list"
    data: list[T]
    first_id: str | None
    last_id: str | None
    has_more: bool

    @classmethod
    def of(cls, items: list[WireT], *, has_more: bool) -> CursorPage[WireT]:
        """The envelope of one page of wire objects."""
        return CursorPage(
            data=items,
            first_id=items[0].id if items else None,
            last_id=items[-1].id if items else None,
            has_more=has_more,
        )


class ErrorBody(BaseModel):
    """The inside of OpenAI's error envelope."""

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(BaseModel):
    """Every non-2xx JSON body on ``/v1``."""

    error: ErrorBody
