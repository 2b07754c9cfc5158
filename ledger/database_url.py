"""Database URLs: checked when the settings load (a typo is a configuration error naming its
setting, at once, instead of a connection refused at every try and a `serve` that waits for
a database no retry can reach; only the URI form asyncpg takes is accepted), and rewritten
for another login or server setting."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")
# What asyncpg (and libpq) take for these two; anything else fails every connection.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SESSION_ATTRS = ("any", "primary", "standby", "read-write", "read-only", "prefer-standby")
_BRACKETED = re.compile(r"\[[^\]]+\](?::(?P<port>.*))?")
_CHOICES = {"sslmode": SSL_MODES, "target_session_attrs": SESSION_ATTRS}


def _ports(hostlist: str, query: dict[str, str]) -> list[str]:
    """Every port the URL names: after each host of its host list, and in `?port=`."""
    ports = [spec for spec in query.get("port", "").split(",") if spec]
    for hostspec in hostlist.split(","):
        bracketed = _BRACKETED.fullmatch(hostspec)
        port = bracketed.group("port") if bracketed else hostspec.partition(":")[2]
        ports.append(unquote(port or ""))
    return [port for port in ports if port]


def database_url_problem(url: str) -> str | None:
    """What makes `url` unusable as a database URL, or None when asyncpg can take it."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket
        return str(exc)
    # urlsplit lower-cases the scheme, as asyncpg's parser does: POSTGRESQL:// is taken.
    if parts.scheme not in SCHEMES or not url.partition(":")[2].startswith("//"):
        return "must start with postgresql:// or postgres://"
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for port in _ports(parts.netloc.rpartition("@")[2], query):
        if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            return f"port {port} is not a number from 1 to 65535"
    for name, choices in _CHOICES.items():
        if name in query and query[name] not in choices:
            return f"{name}={query[name]!r} is not one of {', '.join(choices)}"
    return None


def with_login(url: str, login: str) -> str:
    """The URL with another login (no password: a trusted local server), host kept wherever
    it is given (the embedded server's is a socket directory in the query)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    query = "&".join(
        q for q in parts.query.split("&") if q and q.split("=")[0] not in ("user", "password")
    )
    return urlunsplit((parts.scheme, f"{login}@{host}", parts.path, query, parts.fragment))


def with_setting(url: str, name: str, value: str) -> str:
    """The URL with a server setting applied at connection start (asyncpg passes unknown
    query parameters as server settings), whichever hosts it lists."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, f"{name}={quote(value, safe='')}") if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def with_role(url: str, role: str) -> str:
    """The URL with `role` set at connection start: every session acts as the service role, so
    read-model tables it creates are the role's, whichever login made them (RESET ALL keeps it)."""
    return with_setting(url, "role", role)
