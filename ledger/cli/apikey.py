"""`run.py apikey create | list | revoke`: operator commands for API keys.

`create` prints a description, then the new key alone on the last line of its output, so a
script can capture it with `tail -1` (DESIGN "HTTP API"). Errors go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

import asyncpg

from ledger.auth import (
    KEY_CACHE_TTL_S,
    SCOPES,
    RotationRefused,
    create_key,
    list_keys,
    revoke_key,
    rotate_key,
    validate_scopes,
)
from ledger.cli.database import connect
from ledger.cli.output import add_json_flag, emit
from ledger.config import Settings

# Exit codes: 2 is argparse's own for bad usage, so a bad scope reads the same to scripts.
EXIT_USAGE = 2
EXIT_NOT_FOUND = 1


def add_apikey_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("apikey", help="create, list and revoke API keys")
    actions = parser.add_subparsers(dest="apikey_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="create a key; prints it alone on the last line, shown only once"
    )
    create.add_argument("--name", required=True, help="what the key is for, e.g. shop-backend")
    create.add_argument(
        "--scopes",
        required=True,
        help=f"comma-separated scopes from: {','.join(SCOPES)} (admin implies all)",
    )
    create.add_argument(
        "--client", dest="client_id", default=None, help="client id (default: the name)"
    )
    create.add_argument(
        "--expires", metavar="ISO", help="when the key stops working, ISO 8601 with an offset"
    )
    listing = actions.add_parser(
        "list", help="list keys (ids, clients, scopes, status; never secrets)"
    )
    rotate = actions.add_parser(
        "rotate", help="a new key for the same client and scopes; prints it on the last line"
    )
    rotate.add_argument("key_id", help="the key to replace, as shown by `apikey list`")
    rotate.add_argument(
        "--overlap-hours",
        type=float,
        default=24.0,
        help="how long the old key keeps working (default 24, at most 720)",
    )
    revoke = actions.add_parser("revoke", help="revoke a key; every node refuses it within 5 s")
    revoke.add_argument("key_id", help="the key id, as shown by `apikey list`")
    add_json_flag(create, listing, rotate, revoke)
    return parser


async def _create(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    try:
        scopes = validate_scopes(s.strip() for s in args.scopes.split(",") if s.strip())
        expires = datetime.fromisoformat(args.expires) if args.expires else None
        if expires is not None and expires.tzinfo is None:
            raise ValueError("--expires needs a UTC offset, like 2027-01-31T00:00:00Z")
        principal, plaintext = await create_key(
            conn, name=args.name, scopes=scopes, client_id=args.client_id, expires_at=expires
        )
    except asyncpg.CheckViolationError:
        print("apikey create: --expires must be in the future", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"apikey create: {exc}", file=sys.stderr)
        return EXIT_USAGE
    emit(
        args,
        {"key": principal, "api_key": plaintext},
        f"created API key {principal.key_id} for client {principal.client_id!r} "
        f"(name {principal.name!r}, scopes {','.join(scopes)})",
        "store it now: only its hash is kept, it cannot be shown again",
        plaintext,
    )
    return 0


async def _list(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    keys = await list_keys(conn)
    if args.json:
        emit(args, {"keys": keys})
        return 0
    if not keys:
        print("no API keys")
        return 0
    print(f"{'KEY_ID':<16}  {'CLIENT':<20}  {'NAME':<20}  {'SCOPES':<32}  {'CREATED':<20}  STATUS")
    for key in keys:
        created = key.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = "active"
        if key.revoked_at is not None:
            status = "revoked " + _stamp(key.revoked_at)
        elif key.expires_at is not None:
            status = f"expires {_stamp(key.expires_at)}"
        if key.replaced_by is not None:
            status += f", replaced by {key.replaced_by}"
        if key.last_used_at is not None:
            status += f", last used {_stamp(key.last_used_at)}"
        print(
            f"{key.key_id:<16}  {key.client_id:<20}  {key.name:<20}  "
            f"{','.join(key.scopes):<32}  {created:<20}  {status}"
        )
    return 0


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _rotate(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    if not 0 <= args.overlap_hours <= 720:
        print("apikey rotate: --overlap-hours must be from 0 to 720", file=sys.stderr)
        return EXIT_USAGE
    try:
        new, plaintext, old = await rotate_key(
            conn, args.key_id, timedelta(hours=args.overlap_hours)
        )
    except RotationRefused as exc:
        print(f"apikey rotate: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    assert old.expires_at is not None  # a rotation always sets the old key's end
    emit(
        args,
        {"key": new, "api_key": plaintext, "replaces": old},
        f"created API key {new.key_id} for client {new.client_id!r}, replacing {old.key_id}",
        f"{old.key_id} keeps working until {_stamp(old.expires_at)}",
        "store it now: only its hash is kept, it cannot be shown again",
        plaintext,
    )
    return 0


async def _revoke(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    key_id = args.key_id
    revoked_at = await revoke_key(conn, key_id)
    if revoked_at is None:
        print(f"apikey revoke: no API key with id {key_id!r}", file=sys.stderr)
        return EXIT_NOT_FOUND
    emit(
        args,
        {"key_id": key_id, "revoked_at": revoked_at},
        f"revoked API key {key_id} (at {revoked_at.isoformat()}); running nodes refuse it within"
        f" {KEY_CACHE_TTL_S:g} s",
    )
    return 0


async def apikey_action(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    """Run one `apikey` action on an open connection; returns the process exit code."""
    if args.apikey_command == "create":
        return await _create(conn, args)
    if args.apikey_command == "list":
        return await _list(conn, args)
    if args.apikey_command == "revoke":
        return await _revoke(conn, args)
    if args.apikey_command == "rotate":
        return await _rotate(conn, args)
    raise ValueError(f"unknown apikey action {args.apikey_command!r}")


async def cmd_apikey(settings: Settings, args: argparse.Namespace) -> int:
    conn = await connect(settings)
    try:
        return await apikey_action(conn, args)
    finally:
        await conn.close()
