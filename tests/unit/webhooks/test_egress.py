"""Webhooks go to public addresses only, unless WEBHOOK_ALLOW_PRIVATE says otherwise."""

import socket

import pytest
from aiohttp.abc import AbstractResolver

from ledger.webhooks.egress import PublicOnlyResolver, RefusedTarget, check_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.1.2.3/x",
        "http://172.16.0.1/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[fe80::1]/x",
        "http://[fd00::1]/x",
        "http://[::ffff:10.0.0.1]/x",
        "http://0.0.0.0/x",
        "http://224.0.0.1/x",
        "http://localhost:8080/x",
        "http://db.internal/x",
        "http://printer.local/x",
        # Written in other digits or letters, which the client turns into these (IDNA).
        "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:8081/_admin",
        "http://\u2460\u2461\u2466.0.0.1/x",
        "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/x",
        "http://169\uff0e254\uff0e169\uff0e254/latest",
        # IPv6 addresses that carry an IPv4 one, which a NAT64 gateway, a 6to4 relay or an
        # old stack delivers to: checked as that IPv4 address.
        "http://[64:ff9b::7f00:1]/x",
        "http://[64:ff9b::a9fe:a9fe]/latest",
        "http://[2002:a00:1::1]/x",
        "http://[2002:7f00:1::]/x",
        "http://[::127.0.0.1]/x",
        # Local-use NAT64 (RFC 8215): translated inside the operator's own network.
        "http://[64:ff9b:1::808:808]/x",
    ],
)
def test_a_private_loopback_or_link_local_target_is_refused(url):
    with pytest.raises(RefusedTarget, match="WEBHOOK_ALLOW_PRIVATE is off"):
        check_url(url, allow_private=False)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.example.com/x", "http"),
        ("hooks.example.com/x", "http"),
        ("https://u:p@hooks.example.com/x", "credentials"),
        ("https://hooks.example.com/x#frag", "fragment"),
        ("https://hooks.example.com:99999/x", "not a URL"),
        ("https://hooks.example.com/" + "x" * 2100, "longer than"),
    ],
)
def test_a_url_that_is_not_a_plain_http_target_is_refused_even_when_private_is_allowed(url, why):
    with pytest.raises(RefusedTarget, match=why):
        check_url(url, allow_private=True)


def test_public_addresses_and_names_pass_registration():
    for url in (
        "https://hooks.example.com/gc",
        "https://93.184.216.34/x",
        "http://[2606:4700::1]/",
        "http://[64:ff9b::808:808]/",
        "http://[2002:808:808::1]/",
    ):
        assert check_url(url, allow_private=False) == url


class Resolving(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [
            {"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
            for a in self.addresses
        ]

    async def close(self):
        pass


async def test_a_name_resolving_to_a_private_address_reaches_nothing():
    with pytest.raises(OSError, match="resolves only to private addresses"):
        await PublicOnlyResolver(Resolving("10.0.0.5", "127.0.0.1")).resolve("evil.example", 443)


async def test_only_the_public_addresses_of_a_name_are_connected_to():
    resolved = await PublicOnlyResolver(Resolving("10.0.0.5", "93.184.216.34")).resolve("x.example")
    assert [r["host"] for r in resolved] == ["93.184.216.34"]
