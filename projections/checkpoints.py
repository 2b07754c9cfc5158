"""Projection checkpoints: the cursor each read model has applied, kept in the same
transaction as its rows, and the tables a projection needs before its first batch."""

from __future__ import annotations

import asyncpg

from ledger.log.store import Cursor
from projections.base import Projection, schema_fingerprint

# Events per transaction: large enough to amortise the round trips, small enough that a
# batch commits in well under a second and a rebuild's final catch-up lock stays short.
BATCH_SIZE = 5000


def live_names(projection: Projection) -> dict[str, str]:
    return {t.name: t.name for t in projection.tables}


async def ensure_projection(conn: asyncpg.Connection, projection: Projection) -> bool:
    """Create missing tables and the checkpoint row; True when stored rows have a stale shape.

    A stale shape's live tables keep their indexes as they are until the rebuild swaps new
    ones in: this code's indexes may name columns they lack (every node's start failed on
    one), and index names are positions, so an index added in between would be built again
    under another name, on the live table, blocking the runner's writes meanwhile."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO projection_checkpoints (name, schema_hash) VALUES ($1, $2) "
            "ON CONFLICT (name) DO NOTHING",
            projection.name,
            schema_fingerprint(projection),
        )
        stored = await conn.fetchval(
            "SELECT schema_hash FROM projection_checkpoints WHERE name = $1", projection.name
        )
        stale = stored != schema_fingerprint(projection)
        for table in projection.tables:
            await conn.execute(table.create_table_sql(table.name))
            if not stale:
                for statement in table.create_index_sql(table.name):
                    await conn.execute(statement)
    return stale


async def locked_checkpoint(conn: asyncpg.Connection, name: str) -> Cursor:
    """The checkpoint, row-locked until the caller's transaction ends.

    The lock serialises the runner's batches with a rebuild's final swap: whoever holds it
    owns the read model for that moment.
    """
    row = await conn.fetchrow(
        "SELECT tx_id, position FROM projection_checkpoints WHERE name = $1 FOR UPDATE", name
    )
    return Cursor(row["tx_id"], row["position"])


async def save_checkpoint(conn: asyncpg.Connection, name: str, cursor: Cursor) -> None:
    await conn.execute(
        "UPDATE projection_checkpoints"
        " SET tx_id = $2, position = $3, updated_at = clock_timestamp() WHERE name = $1",
        name,
        cursor.tx_id,
        cursor.position,
    )


async def checkpoint_positions(conn: asyncpg.Connection) -> dict[str, int]:
    """Each projection's checkpoint position: the last event it applied (0 before any)."""
    rows = await conn.fetch("SELECT name, position FROM projection_checkpoints")
    return {row["name"]: row["position"] for row in rows}
