"""The GL's rebuild: order rows cached across batches, postings copied in, daily sums at the end.

The live path reads and upserts each batch's order rows and sums its postings into gl_daily as
it goes. A rebuild is the only writer of its empty shadow tables, so it keeps the order rows in
a RowCache (each written about once), buffers postings and COPYs them in, and sums gl_daily
from all the postings once, after the last batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import asyncpg

from ledger.log import events as ev
from ledger.log.store import RecordedEvent
from projections.cache import RowCache, copy_rows
from projections.gl.postings import ClosedDays
from projections.gl.tables import (
    GL_ORDERS,
    GL_POSTINGS,
    GLOrder,
    closed_days,
    daily_sums_sql,
    order_from_row,
    order_to_row,
)

# Postings held before a COPY: large enough that COPY's per-statement cost vanishes, small
# enough (~200 bytes each, ~10 MiB) to bound the memory a rebuild holds beside its row cache.
POSTINGS_PER_COPY = 50_000


class _GL(Protocol):
    """What the rebuild needs of the GL projection (projections/gl/projection.py)."""

    handled: frozenset[str]

    def fold(
        self,
        orders: dict[str, GLOrder | None],
        recorded: RecordedEvent,
        event: ev.AnyEvent,
        closed: ClosedDays,
        postings: list[tuple],
    ) -> bool: ...

    async def close(
        self,
        conn: asyncpg.Connection,
        names: Mapping[str, str],
        event: ev.GLDayClosed,
        closed: ClosedDays,
    ) -> None: ...


class GLRebuilder:
    def __init__(self, gl: _GL, names: Mapping[str, str]) -> None:
        self._gl, self._names = gl, names
        self.handled = gl.handled
        self._orders = RowCache(
            GL_ORDERS, names["gl_orders"], from_row=order_from_row, to_row=order_to_row
        )
        self._postings: list[tuple] = []
        self._closed: ClosedDays | None = None  # read from the shadow table once

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        relevant = [e for e in events if e.type in self._gl.handled]
        if not relevant:
            return
        if self._closed is None:
            self._closed = await closed_days(conn, self._names)
        cache, fold, closed = self._orders, self._gl.fold, self._closed
        await cache.load(conn, {e.stream_id for e in relevant if e.stream_id.startswith("order:")})
        for recorded in relevant:
            event = recorded.decode()
            if isinstance(event, ev.GLDayClosed):
                # The close moves postings already in the table: every one held goes in first.
                await self._copy_postings(conn)
                await self._gl.close(conn, self._names, event, closed)
            elif recorded.stream_id.startswith("order:") and fold(
                cache.rows, recorded, event, closed, self._postings
            ):
                cache.dirty.add(recorded.stream_id)
        await cache.evict(conn)
        if len(self._postings) >= POSTINGS_PER_COPY:
            await self._copy_postings(conn)

    async def finish(self, conn: asyncpg.Connection) -> None:
        await self._orders.flush(conn)
        await self._copy_postings(conn)
        # A close during the fill summed its two days into gl_daily already; all of it is
        # summed again here, from every posting, in one statement.
        async with conn.transaction():
            await conn.execute(f"DELETE FROM {self._names['gl_daily']}")
            await conn.execute(daily_sums_sql(self._names, "true"))

    async def _copy_postings(self, conn: asyncpg.Connection) -> None:
        await copy_rows(conn, GL_POSTINGS, self._names["gl_postings"], self._postings)
        self._postings = []
