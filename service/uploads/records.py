"""Domain records and enums for uploads."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from service.files.records import FileRecord


class UploadStatus(StrEnum):
    """OpenAI's upload states."""

    PENDING = "pending"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True)
class UploadRecord:
    """An upload and, once completed, the file it became."""

    id: str
    project_id: str
    filename: str
    purpose: str
    bytes: int
    mime_type: str
    status: UploadStatus
    created_at: int
    expires_at: int
    file_expires_after_s: int | None
    file: FileRecord | None = None


@dataclass(frozen=True)
class UploadPartRecord:
    """One received part."""

    id: str
    upload_id: str
    size_bytes: int
    created_at: int
