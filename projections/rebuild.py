"""Rebuild a projection from position zero into shadow tables, then swap or diff.

Read endpoints keep serving the live tables while the shadow fills. The final step runs in one
transaction holding the checkpoint row lock (see runner.locked_checkpoint): both copies are
brought to the same cursor, then either swapped in by rename or compared row by row.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import asyncpg

from ledger.log import store
from ledger.log.leases import LeaseKind, release, try_lease
from ledger.log.store import CURSOR_ZERO, Cursor
from projections.base import KeyedProjection, Projection, Table, schema_fingerprint
from projections.cache import KeyedRebuilder, Rebuilder
from projections.checkpoints import BATCH_SIZE, live_names, locked_checkpoint, save_checkpoint

SHADOW_SUFFIX = "__shadow"
# Events per read while filling the shadow. Rows stay cached across batches, so the batch size
# no longer decides how often a row is written, and smaller batches measured cheaper in CPU
# than the runner's 5,000 (20,000: ~25% more): a small batch's records die before the garbage
# collector promotes and rescans them, and stay in CPU cache. Below ~1,000 round trips show.
REBUILD_BATCH_SIZE = 1_000
Progress = Callable[[int, int, float], None]  # (events done, events total, seconds elapsed)


class RebuildBusy(RuntimeError):
    """Another rebuild of the same projection is running."""


def shadow_names(projection: Projection) -> dict[str, str]:
    return {t.name: t.name + SHADOW_SUFFIX for t in projection.tables}


async def _apply_range(
    conn: asyncpg.Connection,
    projection: Projection,
    names: dict[str, str],
    after: Cursor,
    upto: Cursor,
) -> tuple[Cursor, int]:
    count = 0
    while batch := await store.read_range(conn, after, upto, BATCH_SIZE):
        await projection.apply(conn, names, batch)
        after = batch[-1].cursor
        count += len(batch)
    return after, count


@asynccontextmanager
async def _custom_plans(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Plan every statement for its actual arguments and tables until the block ends.

    The shadow tables start empty, so a generic plan cached for their lookups (on this
    connection, perhaps by an earlier rebuild) is a sequential scan, which stays in use while
    the table grows and makes the rebuild quadratic. Planning each time costs microseconds.
    """
    previous = await conn.fetchval("SELECT current_setting('plan_cache_mode')")
    await conn.execute("SET plan_cache_mode = force_custom_plan")
    try:
        yield
    finally:
        await conn.execute("SELECT set_config('plan_cache_mode', $1, false)", previous)


def _rebuilder(projection: Projection, names: dict[str, str]) -> Rebuilder | None:
    """The projection's rebuild path: keyed ones share one; others may bring their own."""
    if isinstance(projection, KeyedProjection):
        return KeyedRebuilder(projection, names)
    make = getattr(projection, "rebuilder", None)
    return make(names) if make is not None else None


async def _fill_shadow(
    conn: asyncpg.Connection, projection: Projection, progress: Progress | None
) -> Cursor:
    names = shadow_names(projection)
    for table in projection.tables:
        await conn.execute(f"DROP TABLE IF EXISTS {names[table.name]}")
        # Secondary indexes come after the fill: one sorted build each is far cheaper than
        # maintaining them row by row, and nothing reads the shadow before the swap.
        await conn.execute(table.create_table_sql(names[table.name]))
    target = await store.head(conn)
    # A projection with a rebuilder keeps its rows in memory across batches and writes each
    # about once; nothing else touches the shadow tables, so its batches need no transaction.
    rebuilder = _rebuilder(projection, names)
    types = None if rebuilder is None else rebuilder.handled
    total = 0
    if progress:
        total = await conn.fetchval(
            """SELECT count(*) FROM events WHERE (tx_id, position) <= ($1::xid8, $2::bigint)
                 AND ($3::text[] IS NULL OR type = ANY($3))""",
            *target,
            None if types is None else list(types),
        )
    cursor, done, started = CURSOR_ZERO, 0, time.monotonic()
    async with _custom_plans(conn):
        while batch := await store.read_range(conn, cursor, target, REBUILD_BATCH_SIZE, types):
            if rebuilder is not None:
                await rebuilder.apply(conn, batch)
            else:
                async with conn.transaction():
                    await projection.apply(conn, names, batch)
            cursor = batch[-1].cursor
            done += len(batch)
            if progress:
                progress(done, total, time.monotonic() - started)
        if rebuilder is not None:
            await rebuilder.finish(conn)
    for table in projection.tables:
        for statement in table.create_index_sql(names[table.name]):
            await conn.execute(statement)
    # Every event up to the target is in: a filtered read's last event may come before it.
    return target


async def _swap(conn: asyncpg.Connection, table: Table) -> None:
    shadow = table.name + SHADOW_SUFFIX
    await conn.execute(f"DROP TABLE IF EXISTS {table.name}")
    await conn.execute(f"ALTER TABLE {shadow} RENAME TO {table.name}")
    indexes = await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename = $1 AND starts_with(indexname, $2)",
        table.name,
        shadow,
    )
    for row in indexes:
        renamed = table.name + row["indexname"][len(shadow) :]
        await conn.execute(f"ALTER INDEX {row['indexname']} RENAME TO {renamed}")


async def _diff(conn: asyncpg.Connection, table: Table) -> list[str]:
    shadow = table.name + SHADOW_SUFFIX
    rows = await conn.fetch(
        f"""SELECT 'live' AS side, * FROM (TABLE {table.name} EXCEPT ALL TABLE {shadow}) a
            UNION ALL
            SELECT 'rebuilt' AS side, * FROM (TABLE {shadow} EXCEPT ALL TABLE {table.name}) b"""
    )
    by_key: dict[object, dict[str, asyncpg.Record]] = {}
    for row in rows:
        by_key.setdefault(row[table.key], {})[row["side"]] = row
    differences = []
    for key in sorted(by_key, key=str):
        sides = by_key[key]
        if "rebuilt" not in sides:
            differences.append(f"{table.name}[{key}]: in the live table but not in the rebuild")
        elif "live" not in sides:
            differences.append(
                f"{table.name}[{key}]: in the rebuild but missing from the live table"
            )
        else:
            for column, _ in table.columns:
                live, rebuilt = sides["live"][column], sides["rebuilt"][column]
                if live != rebuilt:
                    differences.append(
                        f"{table.name}[{key}].{column}: live={live!r} rebuilt={rebuilt!r}"
                    )
    return differences


async def rebuild(
    conn: asyncpg.Connection,
    projection: Projection,
    *,
    verify_only: bool = False,
    progress: Progress | None = None,
) -> list[str]:
    """Rebuild into shadow tables; swap them in, or (verify_only) return every difference."""
    if not await try_lease(conn, LeaseKind.REBUILD, projection.name):
        raise RebuildBusy(f"a rebuild of {projection.name} is already running")
    try:
        cursor = await _fill_shadow(conn, projection, progress)
        async with conn.transaction():
            live = await locked_checkpoint(conn, projection.name)
            shadow = shadow_names(projection)
            if live > cursor:
                cursor, _ = await _apply_range(conn, projection, shadow, cursor, live)
            elif cursor > live and verify_only:
                await _apply_range(conn, projection, live_names(projection), live, cursor)
                await save_checkpoint(conn, projection.name, cursor)
            if verify_only:
                differences = [d for t in projection.tables for d in await _diff(conn, t)]
                for name in shadow.values():
                    await conn.execute(f"DROP TABLE {name}")
                return differences
            for table in projection.tables:
                await _swap(conn, table)
            await save_checkpoint(conn, projection.name, cursor)
            await conn.execute(
                "UPDATE projection_checkpoints SET schema_hash = $2 WHERE name = $1",
                projection.name,
                schema_fingerprint(projection),
            )
        return []
    finally:
        await release(conn, LeaseKind.REBUILD, projection.name)


async def rebuilding(conn: asyncpg.Connection, names: Sequence[str]) -> list[str]:
    """The projections among names that some session, on any node, is rebuilding now: their
    live checkpoint stands still meanwhile, by design. Seen from the rebuild's lease."""
    rows = await conn.fetch(
        """SELECT p.name FROM unnest($2::text[]) AS p(name)
           WHERE EXISTS (SELECT 1 FROM pg_locks l
                         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                           AND l.classid = $1::oid AND l.objid = hashtext(p.name)::oid)
           ORDER BY 1""",
        int(LeaseKind.REBUILD),
        list(names),
    )
    return [r["name"] for r in rows]
