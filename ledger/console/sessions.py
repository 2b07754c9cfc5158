"""Console sessions: a random token in an HTTP-only cookie, its sha256 in console_sessions.

A session is only as good as the API key that opened it: every request reads the key again
(in the same statement as the session), so a revoked or expired key ends its sessions at once,
on every node. A session never outlives its key's expiry.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import NamedTuple

import asyncpg

from ledger.auth import Principal

COOKIE = "ledger_console"
# The sign-in form's own CSRF token (double submit): there is no session to hold it yet.
SIGN_IN_COOKIE = "ledger_console_sign_in"
# A console session lasts a working day; the key's own expiry cuts it shorter.
SESSION_S = 8 * 3600

_LOAD = """
    SELECT k.key_id, k.client_id, k.name, k.scopes, s.csrf_token, s.expires_at
    FROM console_sessions s JOIN api_keys k ON k.key_id = s.key_id
    WHERE s.token_hash = $1 AND s.signed_out_at IS NULL AND s.expires_at > clock_timestamp()
      AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > clock_timestamp())"""


class Session(NamedTuple):
    principal: Principal
    csrf_token: str
    expires_at: datetime


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def same_token(sent: str | None, expected: str) -> bool:
    """Constant-time: a CSRF token is compared without telling how much of it matched.
    surrogatepass: a form in an odd charset, or a cookie's undecodable bytes, can hold lone
    surrogates, which plain UTF-8 refuses to encode; they simply do not match."""
    if sent is None:
        return False
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode())


def session_expiry(now: datetime, key_expires_at: datetime | None) -> datetime:
    ends = now + timedelta(seconds=SESSION_S)
    return min(ends, key_expires_at) if key_expires_at is not None else ends


async def open_session(
    conn: asyncpg.Connection,
    principal: Principal,
    token: str,
    csrf_token: str,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO console_sessions (token_hash, key_id, csrf_token, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        token_hash(token),
        principal.key_id,
        csrf_token,
        expires_at,
    )


async def load_session(conn: asyncpg.Connection, token: str | None) -> Session | None:
    """The live session of this cookie, or None (none, signed out, expired, key ended)."""
    if not token:
        return None
    row = await conn.fetchrow(_LOAD, token_hash(token))
    if row is None:
        return None
    principal = Principal(row["client_id"], row["key_id"], row["name"], frozenset(row["scopes"]))
    return Session(principal, row["csrf_token"], row["expires_at"])


async def end_session(conn: asyncpg.Connection, token: str) -> None:
    await conn.execute(
        "UPDATE console_sessions SET signed_out_at = clock_timestamp()"
        " WHERE token_hash = $1 AND signed_out_at IS NULL",
        token_hash(token),
    )
