"""Which failures a task retries (outages) and which it gives up on at once."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from service.blobstore import BlobStoreFull, BlobStoreUnavailable
from service.queue.outages import is_outage


@pytest.mark.parametrize(
    "failure",
    [BlobStoreUnavailable("away"), RedisConnectionError("refused"), ConnectionResetError()],
)
def test_a_dependency_that_is_away_is_an_outage(failure: Exception) -> None:
    assert is_outage(failure)


@pytest.mark.parametrize(
    "failure", [BlobStoreFull("no space left"), RuntimeError("bug"), ValueError("bad data")]
)
def test_a_full_blob_store_and_bugs_are_not_outages(failure: Exception) -> None:
    # A full store is a kind of BlobStoreUnavailable, but space does not come back in a backoff.
    assert not is_outage(failure)
