"""Bearer-key authentication for every ``/v1`` route: the key decides the caller's project."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from service.api.providers import api_services_of
from service.auth.api_keys import looks_like_key, redact
from service.errors import AuthenticationFailed

_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


class ApiKeyAuthentication(AbstractAuthenticationMiddleware):
    """Resolves ``Authorization: Bearer <key>`` to a ``Caller`` (``request.user``)."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:  # type: ignore[type-arg]
        header = connection.headers.get("authorization")
        if not header:
            raise AuthenticationFailed(_MISSING_KEY)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed(_MISSING_KEY)
        if not looks_like_key(token):
            raise AuthenticationFailed(f"Incorrect API key provided: {redact(token)}.")
        caller = await api_services_of(connection.app).authenticator.authenticate(token)
        if caller is None:
            raise AuthenticationFailed(f"Incorrect API key provided: {redact(token)}.")
        return AuthenticationResult(user=caller, auth=caller.api_key_id)
