"""The SSRF guard: which addresses and URLs webhooks may reach, in every notation."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from service.webhooks.addresses import AddressPolicy, address_problem
from service.webhooks.targets import (
    SystemResolver,
    TargetGuard,
    TargetRefused,
    TargetUnresolvable,
    literal_address,
)

DEFAULT = AddressPolicy()
PRIVATE_ALLOWED = AddressPolicy(allow_private=True)

REFUSED_BY_DEFAULT = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("169.254.0.1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("fd00:ec2::254", "unique-local"),
    ("fc00::1", "unique-local"),
    ("fe80::1", "link-local IPv6"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.0.0.1", "private"),
    ("::127.0.0.1", "loopback"),  # IPv4-compatible (deprecated form)
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("192.0.2.1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("240.0.0.1", "reserved"),
    ("2001:db8::1", "documentation"),
]

PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("address", "reason"), REFUSED_BY_DEFAULT)
def test_internal_and_special_addresses_are_refused_by_default(address: str, reason: str) -> None:
    problem = address_problem(ipaddress.ip_address(address), DEFAULT)

    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address), DEFAULT) is None


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "fd00::1", "::ffff:192.168.0.1"]
)
def test_the_operator_can_allow_internal_addresses(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address), PRIVATE_ALLOWED) is None


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"])
def test_unspecified_multicast_and_broadcast_are_refused_even_when_internal_is_allowed(
    address: str,
) -> None:
    assert address_problem(ipaddress.ip_address(address), PRIVATE_ALLOWED) is not None


def test_an_allowed_network_opens_only_that_network() -> None:
    policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("10.20.0.0/16"),))

    assert address_problem(ipaddress.ip_address("10.20.3.4"), policy) is None
    assert address_problem(ipaddress.ip_address("::ffff:10.20.3.4"), policy) is None
    assert address_problem(ipaddress.ip_address("10.21.0.1"), policy) is not None
    assert address_problem(ipaddress.ip_address("127.0.0.1"), policy) is not None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),  # one 32-bit decimal
        ("0x7f.1", "127.0.0.1"),  # hex, short form
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),  # octal
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("169.254.169.254", "169.254.169.254"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("example.com", None),
        ("deadbeef.example", None),
    ],
)
def test_numeric_hosts_are_read_as_the_address_the_os_would_connect_to(
    host: str, expected: str | None
) -> None:
    found = literal_address(host)

    assert (None if found is None else str(found)) == expected
    if expected is not None and ":" not in expected:  # the OS resolver agrees
        answers = {info[4][0] for info in socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)}
        assert answers == {expected}


class StaticResolver:
    """A ``Resolver`` answering from a fixed table (a hosts file), for names tests invent."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self._table = table

    async def resolve(self, host: str, port: int) -> list[str]:
        if host not in self._table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self._table[host]


def _guard(
    policy: AddressPolicy = DEFAULT, table: dict[str, list[str]] | None = None
) -> TargetGuard:
    resolver = SystemResolver() if table is None else StaticResolver(table)
    return TargetGuard(policy, resolver, resolve_timeout_s=5)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://017700000001/",
        "http://127.1:9000/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://0.0.0.0:80/",
        "http://localhost:8000/",  # the OS resolver answers from /etc/hosts
        "https://LOCALHOST./hook",
    ],
)
async def test_the_guard_refuses_internal_urls_in_any_notation(url: str) -> None:
    with pytest.raises(TargetRefused, match="cannot be sent"):
        await _guard().check(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "https:// or http://"),
        ("file:///etc/passwd", "https:// or http://"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "https:// or http://"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https:///nohost", "no host"),
        ("https://example.com/" + "a" * 2100, "longer than"),
    ],
)
async def test_the_guard_refuses_malformed_urls(url: str, message: str) -> None:
    with pytest.raises(TargetRefused, match=message):
        await _guard(PRIVATE_ALLOWED).check(url)


async def test_a_name_resolving_to_any_internal_address_is_refused() -> None:
    guard = _guard(table={"hooks.example.test": ["93.184.216.34", "10.0.0.7"]})

    with pytest.raises(TargetRefused, match=r"resolves to 10\.0\.0\.7, a private address"):
        await guard.check("https://hooks.example.test/in")


async def test_a_public_name_gives_a_target_pinned_to_its_checked_addresses() -> None:
    guard = _guard(table={"hooks.example.test": ["93.184.216.34", "2606:2800:220:1::1"]})

    target = await guard.check("https://Hooks.Example.Test:8443/in?x=1")

    assert target.host == "hooks.example.test"
    assert target.port == 8443
    assert target.host_header == "hooks.example.test:8443"
    assert [str(address) for address in target.addresses] == [
        "93.184.216.34",
        "2606:2800:220:1::1",
    ]


async def test_an_unknown_name_is_unresolvable_not_refused() -> None:
    with pytest.raises(TargetUnresolvable, match="could not be resolved"):
        await _guard(table={}).check("https://nowhere.example.test/")


async def test_allowing_private_targets_lets_loopback_through() -> None:
    target = await _guard(PRIVATE_ALLOWED).check("http://127.0.0.1:9/hook")

    assert [str(address) for address in target.addresses] == ["127.0.0.1"]
    assert target.host_header == "127.0.0.1:9"
