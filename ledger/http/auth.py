"""Authorization for handlers: `principal = await authorize(request, "orders:write")`.

Maps ledger.auth's outcomes onto problem+json: 401 with `WWW-Authenticate: Bearer` when no
valid key was sent, 403 `insufficient_scope` naming the scope needed. Webhook routes do not
call this: they authenticate by signature only (DESIGN "HTTP API").
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

import asyncpg
import structlog
from aiohttp import hdrs, web

from ledger.auth import KEY_CACHE_TTL_S, SCOPES, AuthError, Principal, authenticate_until
from ledger.db import DATABASE_ERRORS
from ledger.http.keys import POOL
from ledger.http.problems import Problem

log = structlog.get_logger(__name__)
PRINCIPAL = web.RequestKey("principal", Principal)
# Distinct keys held at once; past it the oldest is dropped (a key costs ~200 bytes).
KEY_CACHE_SIZE = 10_000
# last_used_at is written at most this often per key and process: an operator deciding whether
# a key is still in use needs the day, not the request, and a write per request would double
# the statements of every read.
LAST_USED_EVERY_S = 60.0
_last_written: dict[str, float] = {}
# RFC 6750 §3: the realm names the protection space in the challenge.
_REALM = "giftcard-ledger"


class KeyCache:
    """Principals by the Authorization header that proved them, each for KEY_CACHE_TTL_S and
    never past its key's expiry. Keyed by the header's sha256, so no key is held in clear."""

    def __init__(self, ttl_s: float = KEY_CACHE_TTL_S, size: int = KEY_CACHE_SIZE) -> None:
        self._ttl_s, self._size = ttl_s, size
        self._held: dict[bytes, tuple[Principal, float, datetime | None]] = {}
        # When each key was last forgotten: a read that began before it may not be cached.
        self._forgotten: dict[str, float] = {}

    def get(self, header: str) -> Principal | None:
        digest = _digest(header)
        entry = self._held.get(digest)
        if entry is None:
            return None
        principal, read_at, expires_at = entry
        fresh = time.monotonic() - read_at < self._ttl_s
        if fresh and (expires_at is None or datetime.now(UTC) < expires_at):
            return principal
        del self._held[digest]
        return None

    def put(
        self, header: str, principal: Principal, expires_at: datetime | None, read_at: float
    ) -> None:
        """Hold what a read begun at `read_at` (time.monotonic) found, unless the key was
        revoked or rotated here since: that read may have seen the key before it ended."""
        if self._forgotten.get(principal.key_id, -1.0) >= read_at:
            return
        if len(self._held) >= self._size:
            del self._held[next(iter(self._held))]
        # Aged from the read, not from now: a slow read must not stretch the revocation bound.
        self._held[_digest(header)] = (principal, read_at, expires_at)

    def forget(self, key_id: str) -> None:
        """Drop a key this node just revoked or rotated: it takes effect at once here."""
        self._forgotten[key_id] = time.monotonic()
        for digest in [d for d, (p, _, _) in self._held.items() if p.key_id == key_id]:
            del self._held[digest]


KEY_CACHE = web.AppKey("key_cache", KeyCache)


def _digest(header: str) -> bytes:
    return hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()


def _challenge(error: str | None = None, scope: str | None = None) -> dict[str, str]:
    params = [f'realm="{_REALM}"']
    if error:
        params.append(f'error="{error}"')
    if scope:
        params.append(f'scope="{scope}"')
    return {hdrs.WWW_AUTHENTICATE: "Bearer " + ", ".join(params)}


async def authorize(request: web.Request, scope: str) -> Principal:
    """The caller's principal if its key holds `scope` (or admin); raises Problem otherwise.

    Binds client_id and key_id into the structlog context, so the canonical request line
    says who called, including callers that are then refused for scope.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; known scopes: {', '.join(SCOPES)}")
    header = request.headers.get(hdrs.AUTHORIZATION)
    cache = request.app.get(KEY_CACHE)
    try:
        principal = cache.get(header) if cache is not None and header else None
        if principal is None:
            read_at = time.monotonic()
            async with request.app[POOL].acquire() as conn:
                principal, expires_at = await authenticate_until(conn, header)
                await _note_use(conn, principal.key_id)
            if cache is not None and header:
                cache.put(header, principal, expires_at, read_at)
        elif _use_due(principal.key_id):
            async with request.app[POOL].acquire() as conn:
                await _note_use(conn, principal.key_id)
    except AuthError as exc:
        # RFC 6750 §3.1: no error attribute when the request carried no credentials at all.
        error = "invalid_token" if exc.code == "invalid_api_key" else None
        raise Problem(exc.status, exc.code, exc.detail, headers=_challenge(error)) from None
    structlog.contextvars.bind_contextvars(client_id=principal.client_id, key_id=principal.key_id)
    if not principal.allows(scope):
        raise Problem(
            403,
            "insufficient_scope",
            f"API key {principal.key_id} lacks the {scope!r} scope this request needs",
            headers=_challenge("insufficient_scope", scope),
            extra={"required_scope": scope},
        )
    request[PRINCIPAL] = principal
    return principal


def _use_due(key_id: str) -> bool:
    return time.monotonic() - _last_written.get(key_id, -LAST_USED_EVERY_S) >= LAST_USED_EVERY_S


async def _note_use(conn: asyncpg.Connection, key_id: str) -> None:
    if not _use_due(key_id):
        return
    _last_written[key_id] = time.monotonic()
    try:
        await conn.execute(
            "UPDATE api_keys SET last_used_at = clock_timestamp() WHERE key_id = $1", key_id
        )
    except DATABASE_ERRORS as exc:
        # A bookkeeping write: the request it rides on must not fail for it.
        log.warning("could not note the key's use", key_id=key_id, error=str(exc))
