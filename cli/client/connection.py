"""Where the user commands send requests, and how failures reach the terminal.

Every user command takes ``--base-url`` and ``--api-key`` (or their environment variables, the
``FTAPI_*`` ones first, then the OpenAI SDK's), opens an :func:`api_session` and lets errors
bubble up to it:

    ApiError               the server answered an error (OpenAI's envelope, or any non-2xx)
                           -> ``error: <message> (<code>)`` on stderr, exit 1
    httpx.TransportError   the URL did not answer (refused, DNS, timeout)
                           -> ``error: cannot reach <url>: <why> (connection_error)``, exit 1

No traceback reaches the user for either.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import httpx
import typer

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 120.0

BaseUrlOption = Annotated[
    str,
    typer.Option(
        "--base-url",
        envvar=["FTAPI_BASE_URL", "OPENAI_BASE_URL"],
        help="The API's /v1 URL.",
        show_envvar=True,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar=["FTAPI_API_KEY", "OPENAI_API_KEY"],
        help="API key sent as a bearer token.",
        show_envvar=True,
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON instead of a table.")
]


class ApiError(Exception):
    """The API refused a request; ``code`` is its stable error code (or type, or HTTP status)."""

    def __init__(self, message: str, *, code: str, status_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code

    def describe(self) -> str:
        """``<message> (<code>)``."""
        return f"{self.message} ({self.code})"

    @classmethod
    def of(cls, response: httpx.Response) -> ApiError:
        """The error an error response carries, whatever its body."""
        try:
            envelope = response.json().get("error")
        except (ValueError, AttributeError):
            envelope = None
        if isinstance(envelope, Mapping) and envelope.get("message"):
            code = envelope.get("code") or envelope.get("type") or f"http_{response.status_code}"
            return cls(str(envelope["message"]), code=str(code), status_code=response.status_code)
        reason = response.reason_phrase or "error"
        return cls(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code} {reason}",
            code=f"http_{response.status_code}",
            status_code=response.status_code,
        )


class ApiClient:
    """An ``httpx.Client`` bound to the API's base URL and key: JSON answers, ``ApiError``s."""

    def __init__(
        self, base_url: str, api_key: str | None, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        headers = {"user-agent": "ftapi-cli"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers=headers,
            timeout=httpx.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            transport=transport,
        )

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``GET`` a JSON object."""
        return self.request("GET", path, params=params)

    def post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """``POST`` (``json=``, or ``data=`` and ``files=`` for multipart); the JSON answer."""
        return self.request("POST", path, **kwargs)

    def delete(self, path: str) -> dict[str, Any]:
        """``DELETE``; the JSON answer."""
        return self.request("DELETE", path)

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One request; an error answer raises ``ApiError``."""
        response = self._http.request(method, path.lstrip("/"), **kwargs)
        if response.is_error:
            raise ApiError.of(response)
        try:
            answer = response.json()
        except ValueError:
            raise ApiError(
                f"{method} {response.url} answered something other than JSON; is "
                f"{self.base_url} an ftapi /v1 URL?",
                code="invalid_response",
                status_code=response.status_code,
            ) from None
        if not isinstance(answer, dict):
            raise ApiError(
                f"{method} {response.url} answered JSON that is not an object",
                code="invalid_response",
                status_code=response.status_code,
            )
        return answer

    @contextmanager
    def stream(
        self, method: str, path: str, *, timeout: httpx.Timeout | None = None, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """A streamed response (server-sent events), checked for an error status first."""
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        with self._http.stream(method, path.lstrip("/"), **extra, **kwargs) as response:
            if response.is_error:
                response.read()
                raise ApiError.of(response)
            yield response

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def api_session(base_url: str, api_key: str | None) -> Iterator[ApiClient]:
    """An ``ApiClient`` whose failures end the command with one clear line and exit 1."""
    client = ApiClient(base_url, api_key)
    try:
        yield client
    except ApiError as exc:
        fail(exc.describe())
    except httpx.TransportError as exc:
        why = str(exc) or type(exc).__name__
        fail(f"cannot reach {client.base_url}: {why} (connection_error)")
    except httpx.HTTPError as exc:  # a malformed answer, a redirect loop: still one line
        fail(f"{exc} (http_error)")
    finally:
        client.close()
