"""The one error tree of ftapi.

Domain code raises these; one handler maps them to OpenAI's envelope.

    FtapiError                     500 api_error          (a bug: the message never leaks internals)
    ├── ModelTokenizerError        500 api_error          a base model's tokenizer is unusable
    ├── InvalidRequest             400 invalid_request_error   param = the bad field
    ├── AuthenticationFailed       401 invalid_request_error   invalid_api_key
    ├── NotFound                   404 invalid_request_error   also for another project's objects
    ├── MethodNotAllowed           405 invalid_request_error
    ├── Conflict                   409 invalid_request_error   deterministic: x-should-retry false
    ├── PayloadTooLarge            413 invalid_request_error
    ├── UnsupportedMediaType       415 invalid_request_error
    ├── RateLimited                429 requests                carries retry_after_s
    │   └── KeyRateLimited         429 requests                a key's per-minute limit; its state
    ├── ServiceUnavailable         503 service_unavailable     a dependency is down; retry_after_s
    │   └── ModelUnservable        503 model_unservable        the engines do not serve the trained
    │                                                          model (parity check); no retry
    └── StorageFull                507 storage_full            no space left to store the request

Every error has a stable ``code`` (machine-readable), a ``message`` a user can act on and, where a
request field is at fault, its ``param``.
"""

from __future__ import annotations

import math
from typing import ClassVar


class FtapiError(Exception):
    """Base of every error ftapi reports to a caller."""

    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = "internal_error"
    should_retry: ClassVar[bool | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.retry_after_s = retry_after_s


class ModelTokenizerError(FtapiError):
    """A base model's tokenizer files or chat template are unusable; an operator must fix them."""

    default_code = "invalid_model_tokenizer"


class InvalidRequest(FtapiError):
    """The request is malformed or names values the service cannot accept."""

    status_code = 400
    error_type = "invalid_request_error"
    default_code = None


class AuthenticationFailed(FtapiError):
    """Missing, malformed, unknown or revoked API key."""

    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class NotFound(FtapiError):
    """No such object for this caller (missing and foreign objects look the same)."""

    status_code = 404
    error_type = "invalid_request_error"
    default_code = None


class MethodNotAllowed(FtapiError):
    """The path exists but not with this HTTP method."""

    status_code = 405
    error_type = "invalid_request_error"
    default_code = "method_not_allowed"


class Conflict(FtapiError):
    """The object's state forbids the action; retrying the same call cannot help."""

    status_code = 409
    error_type = "invalid_request_error"
    default_code = "conflict"
    should_retry = False


class PayloadTooLarge(FtapiError):
    """The request body is bigger than the configured limit."""

    status_code = 413
    error_type = "invalid_request_error"
    default_code = "payload_too_large"


class UnsupportedMediaType(FtapiError):
    """The request body is not of a content type the route accepts."""

    status_code = 415
    error_type = "invalid_request_error"
    default_code = "unsupported_media_type"


class RateLimited(FtapiError):
    """Too many requests or jobs; retry after ``retry_after_s``."""

    status_code = 429
    error_type = "requests"
    default_code = "rate_limit_exceeded"


class KeyRateLimited(RateLimited):
    """An API key went over its per-minute request limit.

    Carries the state of the limit that refused it (reported in ``x-ratelimit-*`` headers) and
    the exact wait, which ``retry_after_s`` rounds up to whole seconds.
    """

    def __init__(
        self, message: str, *, limit: int, reset_s: float, retry_after_exact_s: float
    ) -> None:
        super().__init__(message, retry_after_s=max(1, math.ceil(retry_after_exact_s)))
        self.limit = limit
        self.reset_s = reset_s
        self.retry_after_exact_s = retry_after_exact_s


class ServiceUnavailable(FtapiError):
    """A dependency (database, Redis, blob store) cannot be reached right now."""

    status_code = 503
    error_type = "service_unavailable"
    default_code = "service_unavailable"


class ModelUnservable(ServiceUnavailable):
    """Every replica that could serve the model failed its parity check: what the engine serves
    is not the model that was trained. Retrying cannot help until an operator fixes the replica.
    """

    default_code = "model_unservable"
    should_retry = False


class StorageFull(FtapiError):
    """The server's storage has no space left for what the request would store.

    Nothing of the request was kept. Retrying at once cannot help (the SDKs' automatic retries
    would only re-send the body), so ``x-should-retry`` is false; it works once space is freed.
    """

    status_code = 507
    error_type = "storage_full"
    default_code = "storage_full"
    should_retry = False
