"""Domain records and enums for files."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FilePurpose(StrEnum):
    """Every purpose a stored file may carry (the SDK's ``FileObject.purpose`` literals + evals)."""

    ASSISTANTS = "assistants"
    ASSISTANTS_OUTPUT = "assistants_output"
    BATCH = "batch"
    BATCH_OUTPUT = "batch_output"
    FINE_TUNE = "fine-tune"
    FINE_TUNE_RESULTS = "fine-tune-results"
    VISION = "vision"
    USER_DATA = "user_data"
    EVALS = "evals"


# Purposes a caller may upload; the *_output / results purposes are written by ftapi itself.
UPLOADABLE_PURPOSES: tuple[FilePurpose, ...] = (
    FilePurpose.FINE_TUNE,
    FilePurpose.ASSISTANTS,
    FilePurpose.BATCH,
    FilePurpose.USER_DATA,
    FilePurpose.VISION,
    FilePurpose.EVALS,
)


class FileStatus(StrEnum):
    """OpenAI's (deprecated but required) file status."""

    UPLOADED = "uploaded"
    PROCESSED = "processed"
    ERROR = "error"


@dataclass(frozen=True)
class ExpiresAfter:
    """``expires_after``: the only anchor OpenAI defines is ``created_at``."""

    seconds: int


@dataclass(frozen=True)
class FileSpec:
    """What a caller asked to store, already checked."""

    purpose: FilePurpose
    filename: str
    expires_after: ExpiresAfter | None


@dataclass(frozen=True)
class FileRecord:
    """A stored file's metadata."""

    id: str
    project_id: str
    purpose: FilePurpose
    filename: str
    bytes: int
    sha256: str
    status: FileStatus
    status_details: str | None
    created_at: int
    created_us: int
    expires_at: int | None
    data_format: str | None = None  # set by content validation of fine-tune files
    n_examples: int | None = None
