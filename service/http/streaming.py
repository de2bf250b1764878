"""Request-body plumbing for the streaming routes (Files and Upload parts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema

from service.errors import FtapiError, PayloadTooLarge

# Room for multipart headers and the small text fields beside the file.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


def refuse_oversized(request: Request[Any, Any, Any], max_body_bytes: int) -> None:
    """413 at once when the declared Content-Length is over the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise PayloadTooLarge(
            f"The request body is {declared} bytes; this endpoint accepts at most "
            f"{max_body_bytes - MULTIPART_OVERHEAD_BYTES} bytes of file data."
        )


async def drain(stream: AsyncIterator[bytes]) -> None:
    """Read and drop the rest of a request body.

    Clients such as httpx send the whole body before reading the response; answering early and
    closing the connection would turn a clean 413/400 into a broken pipe on their side.
    """
    async for _ in stream:
        pass


@asynccontextmanager
async def request_body(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncIterator[bytes]]:
    """The body stream of ``request``; drained if the handler gives up with an ftapi error."""
    stream = request.stream()
    try:
        yield stream
    except FtapiError:
        await drain(stream)
        raise


def multipart_operation(properties: dict[str, Schema], required: list[str]) -> type[Operation]:
    """An OpenAPI operation class documenting a multipart body the handler reads itself."""
    body = RequestBody(
        required=True,
        content={
            "multipart/form-data": OpenAPIMediaType(
                schema=Schema(type="object", properties=properties, required=required)  # type: ignore[arg-type]
            )
        },
    )

    @dataclass
    class MultipartOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = body

    return MultipartOperation
