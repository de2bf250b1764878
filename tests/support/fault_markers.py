"""The markers a fault test puts in its inputs, and where the faults that react to them live.

``injected_faults/sitecustomize.py`` wraps real functions in the worker processes it is preloaded
into (``preload_dir``); the tests import these names from here, never that module, because
importing it applies its wrappers to whatever process imports it (the test run itself).
"""

from __future__ import annotations

from pathlib import Path

INJECTED_FAULTS_DIR = Path(__file__).with_name("injected_faults")  # a worker's ``preload_dir``

CRASHING_FILE = b"ftapi-test:crash-validator"  # validating the file raises a bug
FLAKY_STORE_FILE = b"ftapi-test:flaky-store"  # the first reads fail as a blob-store outage
FLAKY_STORE_FAILURES = 2
CRASHING_JOB_SUFFIX = "crash-validation"  # validating the job raises a bug
SLOW_JOB_SUFFIX = "slow-validation"  # validating the job hangs (until cancelled)
CRASHING_CLAIM_SUFFIX = "crash-claim"  # the gpu worker raises a bug right after claiming the job
POISONED_JOB_SUFFIX = "poison-reconcile"  # the reconciler's repair of the job raises a bug
CRASHING_DELIVERY_PATH = "/crash-delivery"  # an attempt to deliver to this path raises a bug
CRASHING_LINE = "ftapi-test:crash-on-line"  # checking a line holding this raises a bug
CRASHING_TOKENIZER = "ftapi-test:crash-tokenizer"  # tokenizing an example holding this raises
STORAGE_FULL_FILE = b"ftapi-test:storage-full"  # validating the file finds the blob store full
STORAGE_FULL_JOB_SUFFIX = "storage-full"  # validating the job finds the blob store full
POISONED_SWEEP_NAME = "poison-sweep"  # the sweep's handling of an upload or temp file so named
POISONED_REAP_JOB = "poisonreap"  # the reaper's handling of a model of a job id holding this
