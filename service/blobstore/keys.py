"""The one module that builds blob keys, and the rules every key obeys.

Layout (see DESIGN.md, "Sources of truth")::

    projects/{project_id}/files/{file_id}
    projects/{project_id}/uploads/{upload_id}/parts/{part_id}
    projects/{project_id}/jobs/{job_id}/checkpoints/step-{n}/...
    projects/{project_id}/models/{model_id}/{adapter_config.json, adapter_model.safetensors, ...}

A key is `/`-separated segments of `[A-Za-z0-9._-]` that neither start with a dot nor are empty,
so no key can name `..`, an absolute path, or the local store's private `.tmp/` directory.
"""

import re

from service.blobstore.errors import InvalidBlobKey

_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]*"
_KEY_PATTERN = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_ID_PATTERN = re.compile(_SEGMENT)

# S3 limits keys to 1024 bytes; most filesystems limit a path segment to 255 bytes.
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255


def validate_key(key: str) -> str:
    """Return `key` unchanged if it is a valid object key, else raise InvalidBlobKey."""
    if len(key) > MAX_KEY_BYTES or not _KEY_PATTERN.fullmatch(key):
        raise InvalidBlobKey(
            f"invalid blob key {key!r}: expected '/'-separated segments of [A-Za-z0-9._-] "
            f"that do not start with '.', at most {MAX_KEY_BYTES} characters"
        )
    if any(len(segment) > MAX_SEGMENT_BYTES for segment in key.split("/")):
        raise InvalidBlobKey(
            f"invalid blob key {key!r}: a segment is longer than {MAX_SEGMENT_BYTES}"
        )
    return key


def validate_prefix(prefix: str) -> str:
    """Return `prefix` if it is a valid key prefix (a key, optionally ending in '/').

    The empty prefix is refused: no caller should be able to delete the whole store by accident.
    """
    validate_key(prefix.removesuffix("/"))
    return prefix


def _checked_id(kind: str, value: str) -> str:
    if len(value) > MAX_SEGMENT_BYTES or not _ID_PATTERN.fullmatch(value):
        raise InvalidBlobKey(
            f"invalid {kind} {value!r} for a blob key: expected [A-Za-z0-9._-], "
            "not starting with '.'"
        )
    return value


def _project_root(project_id: str) -> str:
    return f"projects/{_checked_id('project_id', project_id)}"


def file_key(project_id: str, file_id: str) -> str:
    """Key of a File object's body."""
    return f"{_project_root(project_id)}/files/{_checked_id('file_id', file_id)}"


def upload_prefix(project_id: str, upload_id: str) -> str:
    """Prefix (ending in '/') under which an Upload keeps its parts."""
    return f"{_project_root(project_id)}/uploads/{_checked_id('upload_id', upload_id)}/"


def upload_part_key(project_id: str, upload_id: str, part_id: str) -> str:
    """Key of one part of an Upload, stored until the Upload completes or expires."""
    return f"{upload_prefix(project_id, upload_id)}parts/{_checked_id('part_id', part_id)}"


def job_prefix(project_id: str, job_id: str) -> str:
    """Prefix (ending in '/') of everything a fine-tuning job stores."""
    return f"{_project_root(project_id)}/jobs/{_checked_id('job_id', job_id)}/"


def checkpoints_prefix(project_id: str, job_id: str) -> str:
    """Prefix (ending in '/') of every checkpoint a job saved."""
    return f"{job_prefix(project_id, job_id)}checkpoints/"


def checkpoint_prefix(project_id: str, job_id: str, step: int) -> str:
    """Prefix (ending in '/') of the checkpoint a job saved at `step`."""
    if step < 0:
        raise InvalidBlobKey(f"invalid checkpoint step {step}: must be >= 0")
    return f"{checkpoints_prefix(project_id, job_id)}step-{step}/"


def checkpoint_object_key(project_id: str, job_id: str, step: int, name: str) -> str:
    """Key of one file of a checkpoint; `name` may be a relative key such as `adapter/x.json`."""
    return f"{checkpoint_prefix(project_id, job_id, step)}{validate_key(name)}"


def model_prefix(project_id: str, model_id: str) -> str:
    """Prefix (ending in '/') of a published fine-tuned model's adapter files."""
    return f"{_project_root(project_id)}/models/{_checked_id('model_id', model_id)}/"


def model_object_key(project_id: str, model_id: str, name: str) -> str:
    """Key of one file of a published model, e.g. `adapter_config.json` or `manifest.json`."""
    return f"{model_prefix(project_id, model_id)}{_checked_id('model object name', name)}"
