"""Sending one signed webhook request to an already checked target.

The request goes to a checked IP address, with ``Host`` (and TLS SNI and certificate checks)
naming the URL's host, so nothing is resolved again between the SSRF check and the connect.
Redirects are not followed (Standard Webhooks counts a 3xx as a failure), proxies from the
environment are ignored, connections are not reused across deliveries (a pooled connection is
keyed by IP and could carry another host's request), and at most a short snippet of the answer
is read.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from service.webhooks.targets import WebhookTarget

MAX_SNIPPET_BYTES = 512


@dataclass(frozen=True)
class SendResult:
    """What the endpoint answered, or why nothing was answered."""

    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def succeeded(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(Protocol):
    """Posts a body to a checked target."""

    async def send(
        self, target: WebhookTarget, body: bytes, headers: Mapping[str, str]
    ) -> SendResult:
        """POST ``body`` with ``headers``; never raises for network or HTTP failures."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class PinnedHttpSender:
    """``WebhookSender`` over httpx, connecting only to the target's checked addresses."""

    def __init__(self, *, timeout_s: float, verify: ssl.SSLContext | bool = True) -> None:
        """``verify``: TLS trust (httpx's default: the certifi bundle; tests pass their own CA)."""
        self._timeout_s = timeout_s
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            verify=verify,
        )

    async def send(
        self, target: WebhookTarget, body: bytes, headers: Mapping[str, str]
    ) -> SendResult:
        started = time.monotonic()
        error = "no address to connect to"
        for address in target.addresses:  # the next address only when connecting failed
            try:
                async with asyncio.timeout(self._timeout_s):
                    return await self._post(target, str(address), body, headers, started)
            except httpx.ConnectError as exc:
                error = f"could not connect to {address}: {exc}"
            except (httpx.HTTPError, TimeoutError) as exc:
                return SendResult(_elapsed_ms(started), error=_describe(exc, self._timeout_s))
        return SendResult(_elapsed_ms(started), error=error)

    async def _post(
        self,
        target: WebhookTarget,
        address: str,
        body: bytes,
        headers: Mapping[str, str],
        started: float,
    ) -> SendResult:
        url = httpx.URL(target.url).copy_with(host=address)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self._client.build_request(
            "POST",
            url,
            content=body,
            headers={**headers, "host": target.host_header},
            extensions=extensions,
        )
        response = await self._client.send(request, stream=True)
        try:
            snippet = b"" if response.is_success else await _read_snippet(response)
        finally:
            await response.aclose()
        return SendResult(
            _elapsed_ms(started),
            status_code=response.status_code,
            error=None if response.is_success else _http_error(response.status_code, snippet),
            retry_after_s=_retry_after_s(response.headers.get("retry-after")),
        )

    async def close(self) -> None:
        await self._client.aclose()


async def _read_snippet(response: httpx.Response) -> bytes:
    snippet = b""
    async for chunk in response.aiter_raw():
        snippet += chunk
        if len(snippet) >= MAX_SNIPPET_BYTES:
            break
    return snippet[:MAX_SNIPPET_BYTES]


def _http_error(status_code: int, snippet: bytes) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in snippet.decode(errors="replace"))
    text = " ".join(text.split())[:200]
    return f"HTTP {status_code}" + (f": {text}" if text else "")


def _retry_after_s(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # HTTP-date forms are rare for webhooks; the backoff schedule applies
    return seconds if seconds >= 0 else None


def _describe(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"no answer within {timeout_s:g} s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
