"""Where merchant webhooks may go: public addresses only, unless WEBHOOK_ALLOW_PRIVATE.

A URL naming a private, loopback or link-local address is refused when it is registered; a host
name is checked again when each delivery resolves it (the resolver below), so a name that
resolves to an internal address, or starts to later, reaches nothing inside our network.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

# Longest URL accepted: a generous bound that keeps stored rows and log events small.
MAX_URL_LENGTH = 2048


class RefusedTarget(ValueError):
    """The URL may not receive webhooks; the message says why."""


# NAT64's well-known prefix (RFC 6052): a gateway delivers 64:ff9b::a.b.c.d to a.b.c.d.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Local-use NAT64 (RFC 8215): translated to addresses inside the operator's own network.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
# IPv4-compatible addresses (RFC 4291, deprecated), ::1 and :: among them.
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one is delivered to (mapped, NAT64, 6to4, compatible)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)  # the low 32 bits
    return None


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        carried = _carried_ipv4(ip)
        ip = ip if carried is None else carried
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allow_private: bool) -> str:
    """The URL if webhooks may be sent to it; RefusedTarget naming what is wrong otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedTarget(f"is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
        # The host as the client will connect to it: IDNA turns fullwidth or circled digits
        # and letters into ASCII, so "１２７.０.０.１" is checked as the 127.0.0.1 it reaches.
        host = URL(url).raw_host if parts.hostname else None
    except ValueError as exc:
        raise RefusedTarget(f"is not a URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise RefusedTarget("must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("must not carry credentials (user:password@)")
    if parts.fragment:
        raise RefusedTarget("must not have a #fragment")
    if allow_private:
        return url
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise RefusedTarget(f"names a local host ({host}); WEBHOOK_ALLOW_PRIVATE is off")
    try:
        public = _public(host)
    except ValueError:
        return url  # a host name: checked when each delivery resolves it
    if not public:
        raise RefusedTarget(f"is a private address ({host}); WEBHOOK_ALLOW_PRIVATE is off")
    return url


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default and drops every non-public address; a name left with
    none fails like a name that does not resolve (aiohttp's ClientConnectorDNSError)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        resolved = await self._inner.resolve(host, port, family)
        public = [r for r in resolved if _public(r["host"])]
        if not public:
            raise OSError(
                f"{host} resolves only to private addresses (WEBHOOK_ALLOW_PRIVATE is off)"
            )
        return public

    async def close(self) -> None:
        await self._inner.close()
