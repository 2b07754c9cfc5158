"""API keys: creation, hashed storage, Bearer authentication, revocation, admin bootstrap.

A key reads `gcl_<key_id>_<secret>`: key_id (16 hex chars) is public and names the key in
lists and logs; secret is 32 random bytes as unpadded URL-safe base64 (43 chars). The database
holds only sha256(key). The HTTP mapping (401/403 as problems) lives in ledger/http/auth.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec
import structlog

log = structlog.get_logger(__name__)

# Ordered for help texts; "admin" implies every other scope and "finance:all" implies
# "finance:read" (Principal.allows). finance:read is the key's own client's finance data;
# finance:all is every client's, and vendor-wide data such as reconciliation runs.
SCOPES = ("orders:write", "finance:read", "finance:all", "admin")
_IMPLIED_BY = {"finance:read": "finance:all"}
KEY_PREFIX = "gcl_"
# 8 random bytes of id: collisions are negligible at any realistic number of keys, and the
# primary key would refuse one anyway.
_KEY_ID_BYTES = 8
# 256 bits of secret: guessing is hopeless, which is also what lets hash_key be a fast hash.
_SECRET_BYTES = 32
# How long a node trusts a key it has read without reading it again (ledger.http.auth): most
# requests then cost no query. A revocation made elsewhere (the CLI, another node) takes effect
# within this; one made through a node's API at once there. Short: a revoked key is usually a
# leaked one.
KEY_CACHE_TTL_S = 5.0
_KEY_SHAPE = re.compile(r"gcl_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")
# A client id is a token without ':', the separator of order stream ids (order:{client}:{key});
# migrations/0007 holds the database to the same rule.
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
CLIENT_ID_RULE = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
ADMIN_KEY_NAME = "local-admin"
ADMIN_KEY_FILE = "admin-api-key"
# A fixed bigint beside db.MIGRATION_LOCK_KEY (…0001); leases use two-int keys, a separate space.
ADMIN_BOOTSTRAP_LOCK_KEY = 0x4C45_4447_4552_0002


class AuthError(Exception):
    """Authentication failed; status and code are what the HTTP layer answers with."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the client the key belongs to, and what the key may do."""

    client_id: str
    key_id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return (
            scope in self.scopes or "admin" in self.scopes or _IMPLIED_BY.get(scope) in self.scopes
        )

    @property
    def finance_client(self) -> str | None:
        """The one client whose finance data the key may read, or None for every client's."""
        return None if self.allows("finance:all") else self.client_id


class KeyInfo(msgspec.Struct, frozen=True):
    """One stored key as listed to an operator: never the hash, never the plaintext."""

    key_id: str
    client_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None
    replaced_by: str | None = None  # the key a rotation made to take over from this one
    last_used_at: datetime | None = None  # to the minute (ledger.http.auth)


def generate_key() -> tuple[str, str]:
    """A new (key_id, plaintext key) pair from the OS CSPRNG."""
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"


def hash_key(plaintext: str) -> bytes:
    """sha256 of the key. A slow password hash (bcrypt, argon2) defends low-entropy secrets
    that people choose; these keys are 256 random bits, so even a fast hash cannot be
    brute-forced from a leaked table, and each request pays microseconds instead of ~100 ms.
    The hash is deterministic, so lookup is one unique-index probe (no compare loop to time)."""
    return hashlib.sha256(plaintext.encode()).digest()


def validate_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Known scopes, deduplicated in order; ValueError naming the first unknown one."""
    chosen = tuple(dict.fromkeys(scopes))
    for scope in chosen:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; known scopes: {', '.join(SCOPES)}")
    if not chosen:
        raise ValueError(f"at least one scope is required; known scopes: {', '.join(SCOPES)}")
    return chosen


async def create_key(
    conn: asyncpg.Connection,
    *,
    name: str,
    scopes: Iterable[str],
    client_id: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[Principal, str]:
    """Store a new key and return it with its plaintext, which is never retrievable again."""
    chosen = validate_scopes(scopes)
    client = name if client_id is None else client_id
    if not name.strip():
        raise ValueError("name must not be empty")
    if not CLIENT_ID.fullmatch(client):
        raise ValueError(f"client id {client!r} is not valid: {CLIENT_ID_RULE}")
    key_id, plaintext = generate_key()
    await conn.execute(
        "INSERT INTO api_keys (key_id, client_id, name, key_hash, scopes, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        key_id,
        client,
        name,
        hash_key(plaintext),
        list(chosen),
        expires_at,
    )
    return Principal(client, key_id, name, frozenset(chosen)), plaintext


async def authenticate(conn: asyncpg.Connection, header_value: str | None) -> Principal:
    """The principal for an `Authorization: Bearer <key>` header value, or AuthError (401)."""
    principal, _ = await authenticate_until(conn, header_value)
    return principal


async def authenticate_until(
    conn: asyncpg.Connection, header_value: str | None
) -> tuple[Principal, datetime | None]:
    """`authenticate`, with the time the key expires (None: it does not), for a cache."""
    how = "send 'Authorization: Bearer <api key>'"
    if not header_value or not header_value.strip():
        raise AuthError(401, "missing_api_key", f"no API key was sent; {how}")
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer":  # auth schemes are case-insensitive (RFC 9110 §11.1)
        raise AuthError(401, "missing_api_key", f"Authorization scheme is not Bearer; {how}")
    token = token.strip()
    if not token:
        raise AuthError(401, "missing_api_key", f"the Bearer credentials are empty; {how}")
    # Garbage never costs a query; the same answer as an unknown key reveals nothing.
    row = None
    if _KEY_SHAPE.fullmatch(token):
        row = await conn.fetchrow(
            "SELECT key_id, client_id, name, scopes, revoked_at, expires_at,"
            " expires_at <= clock_timestamp() AS expired FROM api_keys WHERE key_hash = $1",
            hash_key(token),
        )
    if row is None:
        raise AuthError(401, "invalid_api_key", "the API key is not valid")
    if row["revoked_at"] is not None:
        # Only a holder of the full key gets here, so naming the revocation leaks nothing.
        raise AuthError(401, "invalid_api_key", f"API key {row['key_id']} has been revoked")
    if ":" in row["client_id"]:
        # From before client ids were tokens: it could name another client's orders.
        detail = (
            f"API key {row['key_id']} has a client id with ':'; re-issue it for a new client id"
        )
        raise AuthError(401, "invalid_api_key", detail)
    if row["expired"]:
        when = row["expires_at"].isoformat()
        raise AuthError(401, "invalid_api_key", f"API key {row['key_id']} expired at {when}")
    principal = Principal(row["client_id"], row["key_id"], row["name"], frozenset(row["scopes"]))
    return principal, row["expires_at"]


async def revoke_key(conn: asyncpg.Connection, key_id: str) -> datetime | None:
    """Revoke a key (idempotent): when it was revoked, or None if there is no such key."""
    return await conn.fetchval(
        """UPDATE api_keys SET revoked_at = coalesce(revoked_at, clock_timestamp())
           WHERE key_id = $1 RETURNING revoked_at""",
        key_id,
    )


_KEY_COLUMNS = """key_id, client_id, name, scopes, created_at, revoked_at, expires_at,
                  replaced_by, last_used_at"""
_KEY_INFO = f"SELECT {_KEY_COLUMNS} FROM api_keys"


def _info(row: asyncpg.Record) -> KeyInfo:
    return KeyInfo(**{**dict(row), "scopes": tuple(row["scopes"])})


async def list_keys(conn: asyncpg.Connection) -> list[KeyInfo]:
    return [_info(r) for r in await conn.fetch(_KEY_INFO + " ORDER BY created_at, key_id")]


class RotationRefused(Exception):
    """The key cannot be rotated: unknown, revoked or expired, or already rotated."""


async def rotate_key(
    conn: asyncpg.Connection, key_id: str, overlap: timedelta
) -> tuple[KeyInfo, str, KeyInfo]:
    """A new key for the same client, name and scopes; the old one keeps working for `overlap`
    (never longer than it would have anyway). Returns (new key, its plaintext, old key)."""
    async with conn.transaction():
        # The row lock makes two rotations of one key wait for each other: the second finds
        # it already replaced instead of making a second successor.
        old = await conn.fetchrow(_KEY_INFO + " WHERE key_id = $1 FOR UPDATE", key_id)
        if old is None:
            raise RotationRefused(f"no API key {key_id}")
        if old["revoked_at"] is not None or old["replaced_by"] is not None:
            raise RotationRefused(f"API key {key_id} is revoked or already rotated")
        new, plaintext = await create_key(
            conn, name=old["name"], scopes=old["scopes"], client_id=old["client_id"]
        )
        retired = await conn.fetchrow(
            f"""UPDATE api_keys SET replaced_by = $2,
                       expires_at = least(coalesce(expires_at, 'infinity'),
                                          clock_timestamp() + $3::interval)
                WHERE key_id = $1 AND (expires_at IS NULL OR expires_at > clock_timestamp())
                RETURNING {_KEY_COLUMNS}""",
            key_id,
            new.key_id,
            overlap,
        )
        if retired is None:
            raise RotationRefused(f"API key {key_id} has expired")
        fresh = await conn.fetchrow(_KEY_INFO + " WHERE key_id = $1", new.key_id)
    return _info(fresh), plaintext, _info(retired)


def _write_secret_file(path: Path, secret: str) -> None:
    """Write via a 0600 temp file and rename: the key is never readable by others, not even
    for a moment, and a stale file from an earlier failed bootstrap is replaced whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secret + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


async def ensure_admin_key(conn: asyncpg.Connection, data_dir: Path) -> Path | None:
    """On a database with no keys at all, create `local-admin` with every scope, write it to
    data_dir/admin-api-key (0600) and return that path; otherwise None.

    A transaction-scoped advisory lock serialises the check and the insert: with INSERT ...
    WHERE NOT EXISTS alone, two nodes under READ COMMITTED would both see an empty table and
    both insert. The lock is released at commit or rollback, so a crashed node cannot wedge it.
    The file is written before commit, so a failed write leaves no key whose plaintext is lost.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADMIN_BOOTSTRAP_LOCK_KEY)
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM api_keys)"):
            return None
        principal, plaintext = await create_key(conn, name=ADMIN_KEY_NAME, scopes=SCOPES)
        path = data_dir / ADMIN_KEY_FILE
        await asyncio.to_thread(_write_secret_file, path, plaintext)
    log.info("created the local admin API key", key_id=principal.key_id, path=str(path))
    return path
