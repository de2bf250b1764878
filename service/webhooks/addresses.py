"""Which IP addresses a webhook may be sent to: the address half of the SSRF guard, as data.

Two tables. ``NEVER_TARGETS`` are refused whatever the operator allows (they never name one
reachable peer). ``INTERNAL_TARGETS`` are refused unless the operator allows private targets or
lists the address in an allowed network. IPv6 forms that carry an IPv4 address (IPv4-mapped,
IPv4-compatible, NAT64, 6to4, Teredo) are judged by the IPv4 address they reach. Anything else
Python does not call globally routable is refused as well.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _table(entries: Sequence[tuple[str, str]]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(cidr), reason) for cidr, reason in entries)


NEVER_TARGETS = _table(
    [
        ("0.0.0.0/8", "an unspecified address"),
        ("::/128", "an unspecified address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("224.0.0.0/4", "a multicast address"),
        ("ff00::/8", "a multicast address"),
    ]
)

INTERNAL_TARGETS = _table(
    [
        ("127.0.0.0/8", "a loopback address"),
        ("::1/128", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("169.254.0.0/16", "a link-local address (this includes cloud metadata, 169.254.169.254)"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("fc00::/7", "a unique-local IPv6 address (this includes AWS metadata, fd00:ec2::254)"),
        ("fe80::/10", "a link-local IPv6 address"),
        ("fec0::/10", "a site-local IPv6 address"),
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("2001:db8::/32", "a documentation address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("240.0.0.0/4", "a reserved address"),
    ]
)

_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


@dataclass(frozen=True)
class AddressPolicy:
    """What the operator allows beyond public addresses."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()


def reached_address(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 transition form reaches, else ``address`` itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    if any(address in prefix for prefix in _NAT64_PREFIXES) or (
        address in _IPV4_COMPATIBLE and int(address) > 1  # not :: or ::1
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_problem(address: IPAddress, policy: AddressPolicy) -> str | None:
    """Why a webhook may not go to ``address`` (a phrase like "a loopback address"), or None."""
    reached = reached_address(address)
    for candidate in {address, reached}:
        for network, reason in NEVER_TARGETS:
            if candidate.version == network.version and candidate in network:
                return reason
    if policy.allow_private or any(
        reached.version == network.version and reached in network
        for network in policy.allowed_networks
    ):
        return None
    for network, reason in INTERNAL_TARGETS:
        if reached.version == network.version and reached in network:
            return reason
    if not reached.is_global:
        return "an address that is not publicly routable"
    return None
