"""HTTP shapes of the Files API (OpenAI's ``FileObject`` and friends)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from service.files.records import FilePurpose, FileRecord


class FileObject(BaseModel):
    """OpenAI's ``file`` object."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: int | None
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"]
    status_details: str | None

    @classmethod
    def of(cls, record: FileRecord) -> FileObject:
        """The wire shape of a file record."""
        return cls(
            id=record.id,
            bytes=record.bytes,
            created_at=record.created_at,
            expires_at=record.expires_at,
            filename=record.filename,
            # Rows stored before evals files became user_data (strict clients know no evals).
            purpose=FilePurpose.USER_DATA.value
            if record.purpose is FilePurpose.EVALS
            else record.purpose.value,
            status=record.status.value,
            status_details=record.status_details,
        )


class FileDeleted(BaseModel):
    """The answer to ``DELETE /v1/files/{id}``."""

    id: str
    object: Literal["file"] = "file"
    deleted: bool
