"""`run.py migrate`, and the one way every command opens its connection."""

from __future__ import annotations

import argparse

import asyncpg

from ledger.config import Settings
from ledger.db import ensure_service_role, migrate, resolve_database_url
from projections.registry import read_model_tables


async def connect(settings: Settings) -> asyncpg.Connection:
    """A connection to DATABASE_URL, or to the embedded PostgreSQL (started if need be)."""
    return await asyncpg.connect(
        await resolve_database_url(settings.database_url, settings.data_dir)
    )


def add_migrate_parser(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser("migrate", help="apply pending database migrations")


async def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    """Migrate as MIGRATE_DATABASE_URL (default DATABASE_URL) and set up SERVICE_ROLE."""
    url = settings.migrate_database_url or settings.database_url
    conn = await asyncpg.connect(await resolve_database_url(url, settings.data_dir))
    try:
        applied = await migrate(conn)
        await ensure_service_role(conn, settings.service_role, read_model_tables(settings))
    finally:
        await conn.close()
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    print(f"service role {settings.service_role}: granted what the service needs, nothing more")
    return 0
