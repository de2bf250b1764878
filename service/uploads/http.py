"""Routes of the Uploads API: ``/v1/uploads``."""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Schema
from litestar.params import FromPath, JSONBody

from service.auth.caller import Caller
from service.errors import InvalidRequest
from service.http.dependencies import CallerDep
from service.http.multipart import MultipartReader, boundary_of
from service.http.streaming import (
    MULTIPART_OVERHEAD_BYTES,
    multipart_operation,
    refuse_oversized,
    request_body,
)
from service.uploads.schemas import UploadComplete, UploadCreate, UploadObject, UploadPartObject
from service.uploads.service import UploadService

_PART_FORM = multipart_operation(
    {"data": Schema(type="string", format="binary", description="One chunk, at most 64 MB.")},  # type: ignore[arg-type]
    ["data"],
)

UploadsDep: TypeAlias = NamedDependency[UploadService]


class UploadsController(Controller):
    """Send a large file in parts and assemble it into a File."""

    path = "/uploads"
    tags = ("Uploads",)

    @post("/", status_code=200, summary="Create an upload")
    async def create_upload(
        self, caller: CallerDep, uploads: UploadsDep, data: JSONBody[UploadCreate]
    ) -> UploadObject:
        """Open an upload of ``bytes`` bytes; it accepts parts for one hour."""
        record = await uploads.create(
            caller,
            filename=data.filename,
            purpose=data.purpose,
            bytes_total=data.bytes,
            mime_type=data.mime_type,
            expires_after_anchor=None if data.expires_after is None else data.expires_after.anchor,
            expires_after_seconds=None
            if data.expires_after is None
            else data.expires_after.seconds,
        )
        return UploadObject.of(record)

    @post(
        "/{upload_id:str}/parts",
        status_code=200,
        operation_class=_PART_FORM,
        request_max_body_size=None,
        summary="Add an upload part",
    )
    async def add_upload_part(
        self,
        request: Request[Caller, str, Any],
        caller: CallerDep,
        uploads: UploadsDep,
        upload_id: FromPath[str],
    ) -> UploadPartObject:
        """Add one part (multipart ``data``, at most 64 MB) to a pending upload."""
        refuse_oversized(request, uploads.max_part_bytes + MULTIPART_OVERHEAD_BYTES)
        boundary = boundary_of(request.headers.get("content-type"))
        async with request_body(request) as stream:
            reader = MultipartReader(stream, boundary)
            while (part := await reader.next_part()) is not None:
                if part.name == "data":
                    record = await uploads.add_part(caller, upload_id, reader.iter_body())
                    while await reader.next_part() is not None:
                        pass
                    return UploadPartObject.of(record)
            raise InvalidRequest("Missing required parameter: 'data'.", param="data")

    @post("/{upload_id:str}/complete", status_code=200, summary="Complete an upload")
    async def complete_upload(
        self,
        caller: CallerDep,
        uploads: UploadsDep,
        upload_id: FromPath[str],
        data: JSONBody[UploadComplete],
    ) -> UploadObject:
        """Assemble the parts in ``part_ids`` order into a File (checked against ``md5``)."""
        record = await uploads.complete(caller, upload_id, data.part_ids, data.md5)
        return UploadObject.of(record)

    @post("/{upload_id:str}/cancel", status_code=200, summary="Cancel an upload")
    async def cancel_upload(
        self, caller: CallerDep, uploads: UploadsDep, upload_id: FromPath[str]
    ) -> UploadObject:
        """Cancel a pending upload; its parts are deleted."""
        return UploadObject.of(await uploads.cancel(caller, upload_id))
