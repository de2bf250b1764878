"""``/console``: the web console's static files (package data), with a strict security policy.

The console is a single page of plain ES modules and CSS, with no build step: it signs in with an
API key kept in the tab's session storage and calls the public ``/v1`` API like any client. These
routes therefore sit outside the ``/v1`` authentication middleware; they serve only static files.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_PATH = "/console"
STATIC_DIR = Path(__file__).parent / "static"

# Everything from this origin only: no inline script or style, no framing, no plugins. The SVG
# charts are built with DOM calls, so 'unsafe-inline' is never needed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def _with_security_headers(app: ASGIApp) -> ASGIApp:
    """Adds ``SECURITY_HEADERS`` to every response of ``app`` (files and their 404s alike)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


def console_router() -> Router:
    """The console at ``/console/`` (``index.html``) and its assets, revalidated on each load
    so an upgraded api never serves a page that mixes old and new modules."""
    return create_static_files_router(
        path=CONSOLE_PATH,
        directories=[STATIC_DIR],
        html_mode=True,
        name="console",
        cache_control=CacheControlHeader(no_cache=True),
        middleware=[_with_security_headers],
        include_in_schema=False,
    )
