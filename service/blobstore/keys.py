"""The one module that builds blob keys, and the rules every key obeys.

Layout (see DESIGN.md, "Sources of truth")::

    projects/{project_id}/files/{file_id}
    projects/{project_id}/uploads/{upload_id}/parts/{part_id}
    projects/{project_id}/jobs/{job_id}/attempts/{n}/checkpoints/step-{step}/...
    projects/{project_id}/jobs/{job_id}/attempts/{n}/adapter/{adapter_config.json, ...}
    projects/{project_id}/imports/{import_id}/adapter/{adapter_config.json, ...}

A training attempt writes only under its own ``attempts/{n}/`` prefix, so a runner that lost its
claim can never overwrite what the attempt holding the job wrote or published. Rows store the
prefix they point at (``fine_tuned_models.blob_prefix``, ``job_checkpoints.blob_prefix``), and
readers take it from there: rows written before this layout point at the older
``jobs/{job_id}/checkpoints/step-{step}/`` and ``models/{job_id}/`` prefixes.

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


def attempt_prefix(project_id: str, job_id: str, attempt: int) -> str:
    """Prefix (ending in '/') of everything one training attempt of a job writes."""
    if attempt < 1:
        raise InvalidBlobKey(f"invalid attempt {attempt}: must be >= 1")
    return f"{job_prefix(project_id, job_id)}attempts/{attempt}/"


def checkpoint_prefix(project_id: str, job_id: str, attempt: int, step: int) -> str:
    """Prefix (ending in '/') of the checkpoint that attempt `attempt` of a job saved at `step`."""
    if step < 0:
        raise InvalidBlobKey(f"invalid checkpoint step {step}: must be >= 0")
    return f"{attempt_prefix(project_id, job_id, attempt)}checkpoints/step-{step}/"


def checkpoint_object_key(project_id: str, job_id: str, attempt: int, step: int, name: str) -> str:
    """Key of one file of a checkpoint; `name` may be a relative key such as `adapter/x.json`."""
    return f"{checkpoint_prefix(project_id, job_id, attempt, step)}{validate_key(name)}"


def adapter_prefix(project_id: str, job_id: str, attempt: int) -> str:
    """Prefix (ending in '/') of the adapter attempt `attempt` of a job trained; it is the
    fine-tuned model's blob prefix once that attempt publishes."""
    return f"{attempt_prefix(project_id, job_id, attempt)}adapter/"


def adapter_object_key(project_id: str, job_id: str, attempt: int, name: str) -> str:
    """Key of one file of an attempt's adapter, e.g. `adapter_config.json` or `manifest.json`."""
    return (
        f"{adapter_prefix(project_id, job_id, attempt)}{_checked_id('adapter object name', name)}"
    )


def imported_adapter_prefix(project_id: str, import_id: str) -> str:
    """Prefix (ending in '/') of an adapter imported with ``POST /v1/models/import``; it is the
    imported model's blob prefix."""
    return f"{_project_root(project_id)}/imports/{_checked_id('import_id', import_id)}/adapter/"


def imported_model_root(adapter_prefix: str) -> str:
    """The prefix an imported model owns, given its adapter's (``imported_adapter_prefix``): the
    adapter and its exports live under it, and the reaper deletes it whole."""
    if "/imports/" not in adapter_prefix or not adapter_prefix.endswith("/adapter/"):
        raise ValueError(f"not an imported adapter's prefix: {adapter_prefix!r}")
    return adapter_prefix.removesuffix("adapter/")


def imported_merged_export_prefix(adapter_prefix: str, model_digest: str) -> str:
    """Prefix (ending in '/') of the merged export of an imported model: beside its adapter."""
    digest = _checked_id("model digest", model_digest)
    return f"{imported_model_root(adapter_prefix)}exports/merged/{digest}/"


def merged_export_prefix(project_id: str, job_id: str, model_digest: str) -> str:
    """Prefix (ending in '/') of the merged export of one model or checkpoint of a job (kept
    under the job's prefix, so deleting the model deletes its export); ``model_digest`` names
    which (model ids hold ``:`` and ``/``, which keys cannot)."""
    digest = _checked_id("model digest", model_digest)
    return f"{job_prefix(project_id, job_id)}exports/merged/{digest}/"
