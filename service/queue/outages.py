"""Which exceptions mean "a dependency is briefly away", so a task may try again later.

The same families the api answers with 503 (``service/http/errors.py``): the database
unreachable or its pool exhausted, Redis unreachable or slow, the blob store unavailable, and a
socket refused or reset. Everything else is a bug or bad data, and retrying it repeats it.

A full blob store (``BlobStoreFull``, a kind of ``BlobStoreUnavailable``) is not an outage:
space comes back when an operator frees or adds some, not within a backoff, so a task that
hits it gives up at once (its file or job ends with ``storage_full``).
"""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.blobstore import BlobStoreFull, BlobStoreUnavailable

_OUTAGES: tuple[type[BaseException], ...] = (
    OperationalError,
    PoolTimeout,
    RedisConnectionError,
    RedisTimeoutError,
    BlobStoreUnavailable,
    ConnectionError,  # OSError family: refused, reset, aborted
)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or the error it wraps) says a dependency is unavailable right now."""
    if isinstance(exc, BlobStoreFull):
        return False
    if isinstance(exc, _OUTAGES):
        return True
    # A DBAPIError that invalidated its connection lost the server, whatever the driver's class.
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
