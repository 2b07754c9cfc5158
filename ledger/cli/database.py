"""`run.py migrate`, and the one way every command opens its connection."""

from __future__ import annotations

import argparse

import asyncpg

from ledger.config import Settings
from ledger.db import migrate, resolve_database_url


async def connect(settings: Settings) -> asyncpg.Connection:
    """A connection to DATABASE_URL, or to the embedded PostgreSQL (started if need be)."""
    return await asyncpg.connect(
        await resolve_database_url(settings.database_url, settings.data_dir)
    )


def add_migrate_parser(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser("migrate", help="apply pending database migrations")


async def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    conn = await connect(settings)
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0
