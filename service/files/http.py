"""Routes of the Files API: ``/v1/files``."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Schema
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream

from service.auth.caller import Caller
from service.errors import InvalidRequest
from service.files.records import UPLOADABLE_PURPOSES, FileSpec
from service.files.schemas import FileDeleted, FileObject
from service.files.service import FileService, IncomingFile, check_file_spec
from service.http.dependencies import CallerDep
from service.http.multipart import MultipartReader, boundary_of
from service.http.schemas import CursorPage
from service.http.streaming import (
    MULTIPART_OVERHEAD_BYTES,
    multipart_operation,
    refuse_oversized,
    request_body,
)
from service.pagination import ListOrder

_FILE_FORM = multipart_operation(
    {
        "file": Schema(type="string", format="binary", description="The file to store."),  # type: ignore[arg-type]
        "purpose": Schema(type="string", enum=[p.value for p in UPLOADABLE_PURPOSES]),  # type: ignore[arg-type]
        "expires_after[anchor]": Schema(type="string", enum=["created_at"]),  # type: ignore[arg-type]
        "expires_after[seconds]": Schema(type="integer", minimum=3600, maximum=2592000),  # type: ignore[arg-type]
    },
    ["file", "purpose"],
)

FilesDep: TypeAlias = NamedDependency[FileService]


class FilesController(Controller):
    """Upload, list, read and delete files."""

    path = "/files"
    tags = ("Files",)

    @post(
        "/",
        status_code=200,
        operation_class=_FILE_FORM,
        request_max_body_size=None,
        summary="Upload a file",
    )
    async def create_file(
        self, request: Request[Caller, str, Any], caller: CallerDep, files: FilesDep
    ) -> FileObject:
        """Upload a file (multipart ``file`` + ``purpose``), streamed into the blob store.

        ``purpose=evals`` is accepted and stored as ``user_data`` (the SDK's ``FileObject`` has
        no ``evals`` purpose, so echoing it would break strict clients); listing with
        ``purpose=evals`` lists those files. Eval runs read any JSONL file the project owns."""
        refuse_oversized(request, files.max_file_bytes + MULTIPART_OVERHEAD_BYTES)
        boundary = boundary_of(request.headers.get("content-type"))
        async with request_body(request) as stream:
            reader = MultipartReader(stream, boundary)
            fields: dict[str, str] = {}
            incoming: IncomingFile | None = None
            filename: str | None = None
            try:
                while (part := await reader.next_part()) is not None:
                    if part.filename is None:
                        fields[part.name] = await reader.read_text(part.name)
                        continue
                    if part.name != "file" or incoming is not None:
                        raise InvalidRequest(
                            f"Unexpected file field '{part.name}'; send one file as 'file'.",
                            param=part.name,
                        )
                    if "purpose" in fields:  # refuse before storing anything when we can
                        _spec_from(fields, part.filename)
                    filename = part.filename
                    incoming = files.incoming(caller)
                    async for chunk in reader.iter_body():
                        await incoming.write(chunk)
                if incoming is None:
                    raise InvalidRequest("Missing required parameter: 'file'.", param="file")
                record = await files.save(caller, incoming, _spec_from(fields, filename))
            except BaseException:
                if incoming is not None:
                    await incoming.discard()
                raise
        return FileObject.of(record)

    @get("/", summary="List files")
    async def list_files(
        self,
        caller: CallerDep,
        files: FilesDep,
        purpose: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(description="1 to 10,000.")] = 10_000,
        order: FromQuery[Literal["asc", "desc"]] = "desc",
        after: FromQuery[str | None] = None,
    ) -> CursorPage[FileObject]:
        """The project's files, newest first unless ``order=asc``, paged by ``after``."""
        page = await files.list_files(
            caller, purpose=purpose, limit=limit, order=ListOrder(order), after=after
        )
        return CursorPage.of(
            [FileObject.of(record) for record in page.items], has_more=page.has_more
        )

    @get("/{file_id:str}", summary="Retrieve a file")
    async def retrieve_file(
        self, caller: CallerDep, files: FilesDep, file_id: FromPath[str]
    ) -> FileObject:
        """A file's metadata."""
        return FileObject.of(await files.get(caller, file_id))

    @get(
        "/{file_id:str}/content",
        summary="Retrieve file content",
        media_type="application/octet-stream",
    )
    async def file_content(
        self, caller: CallerDep, files: FilesDep, file_id: FromPath[str]
    ) -> Stream:
        """The file's bytes, streamed from the blob store."""
        record, chunks = await files.content(caller, file_id)
        first = await anext(chunks, b"")  # surfaces a missing body before the 200 is sent

        async def body() -> Any:
            yield first
            async for chunk in chunks:
                yield chunk

        return Stream(
            body(),
            media_type="application/octet-stream",
            headers={
                "content-length": str(record.bytes),
                "content-disposition": f'attachment; filename="{_header_safe(record.filename)}"',
            },
        )

    @delete("/{file_id:str}", status_code=200, summary="Delete a file")
    async def delete_file(
        self, caller: CallerDep, files: FilesDep, file_id: FromPath[str]
    ) -> FileDeleted:
        """Delete a file and its stored body."""
        await files.delete(caller, file_id)
        return FileDeleted(id=file_id, deleted=True)


def _spec_from(fields: dict[str, str], filename: str | None) -> FileSpec:
    return check_file_spec(
        fields.get("purpose"),
        filename,
        expires_after_anchor=fields.get("expires_after[anchor]"),
        expires_after_seconds=fields.get("expires_after[seconds]"),
    )


def _header_safe(filename: str) -> str:
    return "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in filename
    )
