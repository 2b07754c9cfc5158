"""`run.py migrate`, and the one way every command opens its connection."""

from __future__ import annotations

import argparse

import asyncpg

from ledger.cli.output import add_json_flag, emit
from ledger.config import Settings
from ledger.database_url import with_login, with_role
from ledger.db import (
    MigrationError,
    ensure_service_role,
    migrate,
    prepare_database,
    resolve_database_url,
)
from projections.registry import read_model_tables

# The server refusing the login or the database the settings name (a typo, a role or database
# not made yet): the same command again cannot help until the settings or the server change.
LOGIN_REFUSED = (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError)


async def embedded_service_url(superuser_url: str, role: str) -> str:
    """The embedded server's login for `serve`: a member of the service role and of nothing
    else, created on first use (the embedded server trusts local logins)."""
    login = f"{role}_login"
    conn = await asyncpg.connect(superuser_url)
    try:
        await conn.execute(
            f"DO $$ BEGIN CREATE ROLE {login} LOGIN IN ROLE {role};"
            " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    finally:
        await conn.close()
    return with_role(with_login(superuser_url, login), role)


async def as_service_role(url: str, role: str) -> str:
    """url acting as the service role when its login is a member of it (and not a superuser,
    which a developer's local database often is: that one is warned about instead)."""
    conn = await asyncpg.connect(url)
    try:
        member = await conn.fetchval(
            """SELECT pg_has_role(current_user, r.oid, 'MEMBER') AND current_user <> $1
                      AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
               FROM pg_roles r WHERE r.rolname = $1""",
            role,
        )
    finally:
        await conn.close()
    return with_role(url, role) if member else url


async def database_urls(settings: Settings) -> tuple[str, str]:
    """(the service's URL, the migrating URL), migrations applied and SERVICE_ROLE set up
    through the second. The embedded server is set up like a proper deployment: migrations as
    its superuser, the service as a login of SERVICE_ROLE."""
    role, tables = settings.service_role, read_model_tables(settings)
    if settings.database_url:
        migrate_url = settings.migrate_database_url or settings.database_url
    else:
        migrate_url = await resolve_database_url(None, settings.data_dir)
    conn = await asyncpg.connect(migrate_url)
    try:
        # Not waiting: a command says what is missing, serve answers unready until it is there.
        await prepare_database(conn, role, tables, wait=False)
    finally:
        await conn.close()
    if settings.database_url:
        return await as_service_role(settings.database_url, role), migrate_url
    return await embedded_service_url(migrate_url, role), migrate_url


async def connect(settings: Settings) -> asyncpg.Connection:
    """A connection as the service (so tables a command creates are the service role's),
    after migrations: DATABASE_URL, or the embedded PostgreSQL (started if need be)."""
    service_url, _ = await database_urls(settings)
    return await asyncpg.connect(service_url)


def add_migrate_parser(subparsers: argparse._SubParsersAction) -> None:
    add_json_flag(subparsers.add_parser("migrate", help="apply pending database migrations"))


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate as MIGRATE_DATABASE_URL (default DATABASE_URL) and set up SERVICE_ROLE."""
    url = settings.migrate_database_url or settings.database_url
    conn = await asyncpg.connect(await resolve_database_url(url, settings.data_dir))
    try:
        applied = await migrate(conn)
        try:
            await ensure_service_role(conn, settings.service_role, read_model_tables(settings))
        except asyncpg.InsufficientPrivilegeError as exc:
            raise _role_not_set_up(settings.service_role, applied, exc) from None
    finally:
        await conn.close()
    emit(
        args,
        {"applied": applied, "service_role": settings.service_role},
        "applied: " + ", ".join(applied) if applied else "database is up to date",
        f"service role {settings.service_role}: granted what the service needs, nothing more",
    )
    return 0


def _role_not_set_up(role: str, applied: list[str], exc: Exception) -> MigrationError:
    """What a DBA does for a migrator that may not create roles: make the role, once."""
    done = f"applied {', '.join(applied)}; " if applied else ""
    return MigrationError(
        f"{done}SERVICE_ROLE {role} could not be set up as this login ({exc}): run migrate once"
        f" as a login with CREATEROLE, or have one run `CREATE ROLE {role} NOLOGIN;"
        f" GRANT {role} TO <this login>` and run migrate again"
    )
