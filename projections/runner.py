"""Checkpointed catch-up: read after the checkpoint, apply, write rows and checkpoint together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NamedTuple

import asyncpg
import structlog

from ledger.db import DATABASE_GONE
from ledger.log import store
from ledger.log.followers import follow_with_lease
from projections.base import Projection
from projections.checkpoints import (
    BATCH_SIZE,
    ensure_projection,
    live_names,
    locked_checkpoint,
    save_checkpoint,
)
from projections.rebuild import rebuild

log = structlog.get_logger(__name__)


class ProjectionStalled(RuntimeError):
    """A batch the projection cannot apply. It stops there, loudly: the log is never skipped,
    so the read model stays true up to its checkpoint (docs/operations.md: recovering)."""

    def __init__(self, name: str, first: int, last: int, cause: Exception) -> None:
        super().__init__(
            f"projection {name} cannot apply the events at positions {first}..{last}:"
            f" {type(cause).__name__}: {cause}"
        )
        self.name, self.first, self.last = name, first, last


async def catch_up_once(
    conn: asyncpg.Connection, projection: Projection, batch_size: int = BATCH_SIZE
) -> int:
    """Apply the next batch to the live tables; return how many events it held."""
    async with conn.transaction():
        cursor = await locked_checkpoint(conn, projection.name)
        batch = await store.read_all(conn, cursor, batch_size)
        if batch:
            try:
                await projection.apply(conn, live_names(projection), batch)
            except DATABASE_GONE:
                raise  # the connection, not the events: reconnect and try again
            except Exception as exc:
                first, last = batch[0].position, batch[-1].position
                raise ProjectionStalled(projection.name, first, last, exc) from exc
            await save_checkpoint(conn, projection.name, batch[-1].cursor)
    return len(batch)


async def catch_up(conn: asyncpg.Connection, projection: Projection) -> int:
    total = 0
    while (applied := await catch_up_once(conn, projection)) > 0:
        total += applied
    return total


async def run_projection(
    dsn: str, projection: Projection, stop: asyncio.Event, poll_interval: float = 1.0
) -> None:
    """Hold the projection's lease and keep it caught up until stop is set."""

    async def start(conn: asyncpg.Connection) -> None:
        if await ensure_projection(conn, projection):
            log.info("projection schema changed, rebuilding", projection=projection.name)
            await rebuild(conn, projection)

    async def step(conn: asyncpg.Connection) -> bool:
        return await catch_up_once(conn, projection) == BATCH_SIZE

    await follow_with_lease(dsn, projection.name, stop, poll_interval, step, start)


class Lag(NamedTuple):
    events: int  # committed events after the checkpoint
    seconds: float  # age of the oldest of them
    # Of those, the ones a runner can apply now: below the oldest open transaction (read_all
    # waits for it, so a long-open writer holds every projection without it being stuck).
    applicable: int


# From one checkpoint, as parameters. Planned for their values, `tx_id >= $1` is estimated from
# the column's statistics (near the end of the log: a few rows), so this is an index range scan
# costing the lag, not the log. Within a statement (a join, LATERAL) the checkpoint is unknown
# when planning, the estimate a third of the table, and the plan a scan of all of it: 0.2 s at
# 2M events (bench/scale.py).
_LAG_AFTER = """
    SELECT count(*) AS events,
           coalesce(extract(epoch FROM clock_timestamp() - min(recorded_at)), 0) AS seconds,
           count(*) FILTER (WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())) AS applicable
    FROM events
    WHERE tx_id >= $1::xid8 AND (tx_id, position) > ($1::xid8, $2::bigint)"""


async def lag(conn: asyncpg.Connection, projections: Sequence[Projection]) -> dict[str, Lag]:
    """Per projection: events not yet applied, the age of the oldest, and how many can be."""
    names = [p.name for p in projections]
    checkpoints = {
        r["name"]: (r["tx_id"], r["position"])
        for r in await conn.fetch(
            "SELECT name, tx_id, position FROM projection_checkpoints WHERE name = ANY($1)", names
        )
    }
    result = {}
    for name in names:
        row = await conn.fetchrow(_LAG_AFTER, *checkpoints.get(name, (0, 0)))
        result[name] = Lag(row["events"], float(row["seconds"]), row["applicable"])
    return result
