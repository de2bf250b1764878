"""Maps every exception that reaches the HTTP edge to OpenAI's error envelope.

``{"error": {"message", "type", "param", "code"}}``, the right status, ``x-request-id`` (added by
the app's ``before_send`` hook), ``x-should-retry: false`` for deterministic conflicts and
``Retry-After`` where a retry can help. Framework internals never reach the body.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.blobstore import BlobNotFound, BlobStoreFull, BlobStoreUnavailable
from service.errors import (
    AuthenticationFailed,
    FtapiError,
    InvalidRequest,
    KeyRateLimited,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    StorageFull,
)
from service.http.rate_limit import refusal_headers

logger = logging.getLogger(__name__)

_UNPARSEABLE_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The API expects a JSON payload, but what was sent was "
    "not valid JSON.)"
)
_INTERNAL_MESSAGE = (
    "The server had an error while processing your request. Sorry about that! "
    "Include the request id (x-request-id) if you report it."
)


def envelope(error: FtapiError, *, status_code: int | None = None) -> Response[dict[str, Any]]:
    """The OpenAI error response for one of our errors (``status_code`` overrides the class's)."""
    headers: dict[str, str] = {}
    if error.should_retry is not None:
        headers["x-should-retry"] = "true" if error.should_retry else "false"
    if error.retry_after_s is not None:
        headers["retry-after"] = str(error.retry_after_s)
    return Response(
        {
            "error": {
                "message": error.message,
                "type": error.error_type,
                "param": error.param,
                "code": error.code,
            }
        },
        status_code=status_code or error.status_code,
        headers=headers,
        media_type="application/json",
    )


def _ftapi_error(_: Request[Any, Any, Any], exc: FtapiError) -> Response[dict[str, Any]]:
    return envelope(exc)


def _key_rate_limited(_: Request[Any, Any, Any], exc: KeyRateLimited) -> Response[dict[str, Any]]:
    response = envelope(exc)
    response.headers.update(refusal_headers(exc))
    return response


def _validation_error(
    _: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    return envelope(_invalid_request_from(exc))


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status == 404:
        return envelope(NotFound(f"Invalid URL ({request.method} {request.url.path})"))
    if status == 405:
        return envelope(
            MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}.")
        )
    if status == 413 or "Request Entity Too Large" in str(exc.detail):
        return envelope(PayloadTooLarge("The request body is larger than this endpoint accepts."))
    if status == 401:
        return envelope(AuthenticationFailed(str(exc.detail)))
    if status == 400 and str(exc.detail).startswith("JSON is malformed"):
        return envelope(InvalidRequest(_UNPARSEABLE_JSON))
    if 400 <= status < 500:
        return envelope(InvalidRequest(str(exc.detail) or "Invalid request."), status_code=status)
    return _internal_error(request, exc)


def _database_unavailable(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    if (
        isinstance(exc, DBAPIError)
        and not exc.connection_invalidated
        and not isinstance(exc, OperationalError)
    ):
        return _internal_error(request, exc)
    logger.warning("database unavailable: %s", type(exc).__name__)
    return envelope(
        ServiceUnavailable("The database is unavailable; retry shortly.", retry_after_s=5)
    )


def _blob_store_unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.warning("blob store unavailable: %s", exc)
    return envelope(
        ServiceUnavailable(
            "The file store is unavailable; nothing was stored. Retry shortly.", retry_after_s=5
        )
    )


def _blob_store_full(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.error("blob store full: %s", exc)  # an operator has to act: not a warning
    return envelope(
        StorageFull(
            "The server's storage is full; nothing was stored. Retry later, or ask the "
            "service's operators to free space."
        )
    )


def _blob_missing(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # A row whose body is gone is data loss, not a caller error: report it as a server error.
    logger.error("blob missing for a live row: %s", exc)
    return envelope(FtapiError(_INTERNAL_MESSAGE))


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return envelope(FtapiError(_INTERNAL_MESSAGE))


def _invalid_request_from(exc: ValidationException) -> InvalidRequest:
    """A 400 naming the first offending field, in words a user can act on."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    first = extra[0] if extra and isinstance(extra[0], dict) else {}
    key = first.get("key")
    message = first.get("message")
    source = first.get("source")
    if key == "data" or (not key and source in (None, "body")):
        # Litestar names the handler's body argument; callers only know "the body".
        return InvalidRequest(
            "The request body must be a JSON object with the documented fields."
            + (f" ({message})" if message and message != "'data'" else "")
        )
    if key and message:
        where = "query parameter" if source == "query" else "parameter"
        return InvalidRequest(f"Invalid {where} '{key}': {message}", param=str(key))
    return InvalidRequest(str(exc.detail) or "Invalid request.")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    FtapiError: _ftapi_error,
    KeyRateLimited: _key_rate_limited,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    DBAPIError: _database_unavailable,
    PoolTimeout: _database_unavailable,
    ConnectionRefusedError: _database_unavailable,
    BlobStoreUnavailable: _blob_store_unavailable,
    BlobStoreFull: _blob_store_full,
    BlobNotFound: _blob_missing,
    Exception: _internal_error,
}
