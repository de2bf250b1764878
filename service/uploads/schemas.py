"""HTTP shapes of the Uploads API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.files.schemas import FileObject
from service.http.schemas import InputModel
from service.uploads.records import UploadPartRecord, UploadRecord


class ExpiresAfterInput(InputModel):
    """When the resulting file expires, relative to its creation."""

    anchor: Literal["created_at"]
    seconds: int = Field(ge=3600, le=2592000)


class UploadCreate(InputModel):
    """Body of ``POST /v1/uploads``."""

    filename: str = Field(min_length=1, max_length=1024)
    purpose: str
    bytes: int = Field(ge=0)
    mime_type: str = Field(min_length=1, max_length=255)
    expires_after: ExpiresAfterInput | None = None


class UploadComplete(InputModel):
    """Body of ``POST /v1/uploads/{id}/complete``."""

    part_ids: list[str] = Field(max_length=10_000)
    md5: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{32}$")


class UploadObject(BaseModel):
    """OpenAI's ``upload`` object."""

    id: str
    object: Literal["upload"] = "upload"
    bytes: int
    created_at: int
    expires_at: int
    filename: str
    purpose: str
    status: Literal["pending", "completed", "cancelled", "expired"]
    file: FileObject | None

    @classmethod
    def of(cls, record: UploadRecord) -> UploadObject:
        """The wire shape of an upload record."""
        return cls(
            id=record.id,
            bytes=record.bytes,
            created_at=record.created_at,
            expires_at=record.expires_at,
            filename=record.filename,
            purpose=record.purpose,
            status=record.status.value,
            file=None if record.file is None else FileObject.of(record.file),
        )


class UploadPartObject(BaseModel):
    """OpenAI's ``upload.part`` object."""

    id: str
    object: Literal["upload.part"] = "upload.part"
    created_at: int
    upload_id: str

    @classmethod
    def of(cls, record: UploadPartRecord) -> UploadPartObject:
        """The wire shape of a part record."""
        return cls(id=record.id, created_at=record.created_at, upload_id=record.upload_id)
