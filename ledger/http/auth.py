"""Authorization for handlers: `principal = await authorize(request, "orders:write")`.

Maps ledger.auth's outcomes onto problem+json: 401 with `WWW-Authenticate: Bearer` when no
valid key was sent, 403 `insufficient_scope` naming the scope needed. Webhook routes do not
call this: they authenticate by signature only (DESIGN "HTTP API").
"""

from __future__ import annotations

import time

import asyncpg
import structlog
from aiohttp import hdrs, web

from ledger.auth import SCOPES, AuthError, Principal, authenticate
from ledger.db import DATABASE_ERRORS
from ledger.http.keys import POOL
from ledger.http.problems import Problem

log = structlog.get_logger(__name__)
PRINCIPAL = web.RequestKey("principal", Principal)
# last_used_at is written at most this often per key and process: an operator deciding whether
# a key is still in use needs the day, not the request, and a write per request would double
# the statements of every read.
LAST_USED_EVERY_S = 60.0
_last_written: dict[str, float] = {}
# RFC 6750 §3: the realm names the protection space in the challenge.
_REALM = "giftcard-ledger"


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
    try:
        async with request.app[POOL].acquire() as conn:
            principal = await authenticate(conn, header)
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


async def _note_use(conn: asyncpg.Connection, key_id: str) -> None:
    now = time.monotonic()
    if now - _last_written.get(key_id, -LAST_USED_EVERY_S) < LAST_USED_EVERY_S:
        return
    _last_written[key_id] = now
    try:
        await conn.execute(
            "UPDATE api_keys SET last_used_at = clock_timestamp() WHERE key_id = $1", key_id
        )
    except DATABASE_ERRORS as exc:
        # A bookkeeping write: the request it rides on must not fail for it.
        log.warning("could not note the key's use", key_id=key_id, error=str(exc))
