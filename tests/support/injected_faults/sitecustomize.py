"""Faults a test worker process injects into itself (loaded as ``sitecustomize``).

Fault tests start a worker with this directory first on PYTHONPATH (``preload_dir``), so
Python imports this module before the worker's own code. It wraps a few real functions so
that inputs carrying a marker fail as a bug or an outage would, deep inside the real code
path; every other input runs unchanged. Production never has this directory on its path.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from typing import Any

from gpu_runner.gpu_worker import attempts
from service.blobstore import BlobStoreFull, BlobStoreUnavailable, LocalBlobStore
from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.datasets.validation import stored_files
from service.datasets.validation.fast_path import FastPath
from service.datasets.validation.problems import ValidationReport
from service.datasets.validation.validator import validate_jsonl as _real_validate_jsonl
from service.jobs import preflight, reconciler, validation_step
from service.jobs.store import JobStore
from service.models.reaper import ModelBlobReaper
from service.uploads.store import UploadStore
from service.webhooks.delivery import WebhookDeliverer
from tests.support.fault_markers import (
    CRASHING_CLAIM_SUFFIX,
    CRASHING_DELIVERY_PATH,
    CRASHING_FILE,
    CRASHING_JOB_SUFFIX,
    CRASHING_LINE,
    CRASHING_TOKENIZER,
    FLAKY_STORE_FAILURES,
    FLAKY_STORE_FILE,
    POISONED_JOB_SUFFIX,
    POISONED_REAP_JOB,
    POISONED_SWEEP_NAME,
    SLOW_JOB_SUFFIX,
    STORAGE_FULL_FILE,
    STORAGE_FULL_JOB_SUFFIX,
)

_flaky_reads = 0
_real_request_of = validation_step._request_of
_real_check = preflight.JobPreflight.check
_real_attempt_checkpoints = attempts.AttemptCheckpoints
_real_in_statuses = JobStore.in_statuses
_real_train_key = reconciler.train_key
_real_send = WebhookDeliverer._send
_poisoned_job_ids: set[str] = set()
_real_accepts_chat = FastPath._accepts_chat
_real_tokenize_batch = ChatTokenizer.tokenize_batch
_real_stale = UploadStore.stale
_real_upload_transition = UploadStore.transition
_real_discard_abandoned = LocalBlobStore.discard_abandoned
_real_reap = ModelBlobReaper._reap
_poisoned_upload_ids: set[str] = set()


def _validate_jsonl(chunks: Iterable[bytes], *args: Any, **kwargs: Any) -> ValidationReport:
    global _flaky_reads
    body = list(chunks)
    content = b"".join(body)
    if CRASHING_FILE in content:
        raise RuntimeError("injected: the validator crashed")
    if STORAGE_FULL_FILE in content:
        raise BlobStoreFull("injected: the blob store has no space left")
    if FLAKY_STORE_FILE in content and _flaky_reads < FLAKY_STORE_FAILURES:
        _flaky_reads += 1
        raise BlobStoreUnavailable("injected: the blob store is briefly unavailable")
    return _real_validate_jsonl(iter(body), *args, **kwargs)


def _request_of(job: Any) -> Any:
    if job.suffix == CRASHING_JOB_SUFFIX:
        raise RuntimeError("injected: job validation crashed")
    return _real_request_of(job)


async def _check(self: Any, caller: Any, request: Any) -> Any:
    if request.suffix == STORAGE_FULL_JOB_SUFFIX:
        raise BlobStoreFull("injected: the blob store has no space left")
    if request.suffix == SLOW_JOB_SUFFIX:
        # Each start leaves a line, so the test can tell a validation was picked up again.
        with open(os.environ["FTAPI_TEST_SLOW_VALIDATION_LOG"], "a") as log:
            log.write("start\n")
        await asyncio.sleep(3600)
    return await _real_check(self, caller, request)


def _attempt_checkpoints(job: Any, *args: Any, **kwargs: Any) -> Any:
    if job.suffix == CRASHING_CLAIM_SUFFIX:
        raise RuntimeError("injected: the training claim crashed")
    return _real_attempt_checkpoints(job, *args, **kwargs)


async def _in_statuses(self: Any, *args: Any, **kwargs: Any) -> Any:
    # Rows carry the suffix; the reconciler's repair sees only the id (train_key below).
    jobs = await _real_in_statuses(self, *args, **kwargs)
    _poisoned_job_ids.update(job.id for job in jobs if job.suffix == POISONED_JOB_SUFFIX)
    return jobs


def _train_key(job_id: str, attempt: int) -> str:
    if job_id in _poisoned_job_ids:
        raise RuntimeError(f"injected: repairing {job_id} crashed")
    return _real_train_key(job_id, attempt)


async def _send(self: Any, delivery: Any, endpoint: Any) -> Any:
    if endpoint.url.endswith(CRASHING_DELIVERY_PATH):
        raise RuntimeError("injected: the delivery attempt crashed")
    return await _real_send(self, delivery, endpoint)


def _accepts_chat(self: Any, line: bytes) -> bool:
    if CRASHING_LINE.encode() in line:
        raise RuntimeError("injected: checking a line crashed")
    return _real_accepts_chat(self, line)


def _tokenize_batch(self: Any, examples: Any, *args: Any, **kwargs: Any) -> Any:
    if any(CRASHING_TOKENIZER in repr(example) for example in examples):
        raise RuntimeError("injected: the tokenizer crashed")
    return _real_tokenize_batch(self, examples, *args, **kwargs)


async def _stale(self: Any, *args: Any, **kwargs: Any) -> Any:
    # Rows carry the filename; expiring one sees only its id (transition below).
    uploads = await _real_stale(self, *args, **kwargs)
    _poisoned_upload_ids.update(u.id for u in uploads if POISONED_SWEEP_NAME in u.filename)
    return uploads


async def _upload_transition(self: Any, upload_id: str, *args: Any, **kwargs: Any) -> Any:
    if upload_id in _poisoned_upload_ids:
        raise RuntimeError(f"injected: expiring {upload_id} crashed")
    return await _real_upload_transition(self, upload_id, *args, **kwargs)


async def _discard_abandoned(self: Any, write: Any) -> Any:
    if POISONED_SWEEP_NAME in write.id:
        raise RuntimeError(f"injected: discarding {write.id} crashed")
    return await _real_discard_abandoned(self, write)


async def _reap(self: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
    if POISONED_REAP_JOB in (model.job_id or ""):  # an imported model has no job
        raise RuntimeError(f"injected: reaping {model.id} crashed")
    return await _real_reap(self, model, *args, **kwargs)


stored_files.validate_jsonl = _validate_jsonl  # type: ignore[attr-defined]  # not re-exported
validation_step._request_of = _request_of
preflight.JobPreflight.check = _check  # type: ignore[method-assign]
attempts.AttemptCheckpoints = _attempt_checkpoints  # type: ignore[assignment,misc]
JobStore.in_statuses = _in_statuses  # type: ignore[method-assign]
reconciler.train_key = _train_key
WebhookDeliverer._send = _send  # type: ignore[method-assign]
FastPath._accepts_chat = _accepts_chat  # type: ignore[method-assign]
ChatTokenizer.tokenize_batch = _tokenize_batch  # type: ignore[method-assign]
UploadStore.stale = _stale  # type: ignore[method-assign]
UploadStore.transition = _upload_transition  # type: ignore[method-assign]
LocalBlobStore.discard_abandoned = _discard_abandoned  # type: ignore[method-assign]
ModelBlobReaper._reap = _reap  # type: ignore[method-assign]
