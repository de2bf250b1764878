"""The SSRF guard: parse a webhook URL, resolve its host once, and check every address.

The resulting ``WebhookTarget`` carries the addresses that passed; the sender connects to one of
those (never resolving again), so a DNS answer that changes between check and connect cannot
move a delivery onto an internal address. The guard runs when an endpoint is saved and again
before every attempt.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Protocol

import httpx

from service.webhooks.addresses import AddressPolicy, IPAddress, address_problem

ALLOWED_SCHEMES = ("http", "https")
MAX_URL_CHARS = 2048


class TargetRefused(Exception):
    """The URL or an address it resolves to is not allowed; retrying cannot help."""


class TargetUnresolvable(Exception):
    """The host could not be resolved now (it may resolve later)."""


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL and the addresses it may be sent to."""

    url: str
    scheme: str
    host: str  # as resolved and sent in Host / SNI (IDNA-encoded, lowercase, no final dot)
    port: int
    addresses: tuple[IPAddress, ...]

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the name, plus the port when it is not the scheme's default."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


class Resolver(Protocol):
    """Turns a host name into IP addresses."""

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to now; raises ``OSError`` when it cannot."""
        ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``), as every other client would use."""

    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        return [str(info[4][0]) for info in infos]


def parse_webhook_url(url: str) -> httpx.URL:
    """``url`` parsed, if its shape is acceptable: http(s), a host, no credentials."""
    if len(url) > MAX_URL_CHARS:
        raise TargetRefused(f"The URL is longer than {MAX_URL_CHARS} characters.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise TargetRefused(f"The URL could not be parsed: {exc}") from None
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise TargetRefused("The URL must start with https:// or http://.")
    if not parsed.host:
        raise TargetRefused("The URL has no host.")
    if parsed.userinfo:
        raise TargetRefused("The URL must not contain a user name or password.")
    return parsed


def literal_address(host: str) -> IPAddress | None:
    """The address a numeric host names, including legacy IPv4 forms (``2130706433``,
    ``0x7f.1``, ``017700000001``, ``127.1``) that resolvers and browsers accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(ch in "0123456789abcdefxABCDEFX." for ch in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


class TargetGuard:
    """Checks webhook URLs against the address policy, resolving each host once."""

    def __init__(
        self, policy: AddressPolicy, resolver: Resolver, *, resolve_timeout_s: float = 5.0
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._resolve_timeout_s = resolve_timeout_s

    async def check(self, url: str) -> WebhookTarget:
        """The target ``url`` names, if every address it resolves to is allowed."""
        parsed = parse_webhook_url(url)
        bare_host = parsed.raw_host.decode("ascii").lower().rstrip(".")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        literal = literal_address(bare_host)
        addresses = [literal] if literal is not None else await self._resolve(bare_host, port)
        for address in addresses:
            problem = address_problem(address, self._policy)
            if problem is not None:
                where = (
                    f"it is {problem}"
                    if literal is not None
                    else f"it resolves to {address}, {problem}"
                )
                raise TargetRefused(
                    f"Webhooks cannot be sent to {bare_host}: {where}. Use a public address."
                )
        return WebhookTarget(
            url=url,
            scheme=parsed.scheme,
            host=bare_host,
            port=port,
            addresses=tuple(dict.fromkeys(addresses)),
        )

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            async with asyncio.timeout(self._resolve_timeout_s):
                answers = await self._resolver.resolve(host, port)
        except (OSError, TimeoutError) as exc:
            raise TargetUnresolvable(f"The host {host} could not be resolved ({exc}).") from None
        addresses: list[IPAddress] = []
        for answer in answers:
            # getaddrinfo may append a zone to link-local IPv6 answers ("fe80::1%eth0").
            addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
        if not addresses:
            raise TargetUnresolvable(f"The host {host} resolved to no address.")
        return addresses
