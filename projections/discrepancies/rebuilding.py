"""The discrepancy projection's rebuild: one working set kept across batches, written in bulk.

The live path reads every row a batch touches and writes them back after it. A rebuild is the
only writer of its empty shadow tables, so its working set stays in memory from batch to batch
and is written when it outgrows its bound (and at the end); after such a write, only keys that
were written can be in the tables, so only those are ever looked up again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg

from ledger.log.store import RecordedEvent
from projections.base import Table
from projections.cache import REBUILD_CACHE_ROWS, KeyFilter, copy_rows
from projections.discrepancies.matching import Discrepancy
from projections.discrepancies.tables import DISCREPANCIES, RECON_ORDERS, Relevant, Rows, named

Fold = Callable[[Rows, RecordedEvent, Any], Awaitable[None]]
Select = Callable[[Sequence[RecordedEvent]], list[tuple[RecordedEvent, Any]]]


class CachedRows(Rows):
    """Rows that outlive a batch; `written_*` say which keys the shadow tables may hold."""

    def __init__(self, conn: asyncpg.Connection, names: Mapping[str, str]) -> None:
        super().__init__(conn, names)
        self.written_orders, self.written_discrepancies = KeyFilter(), KeyFilter()
        self._fresh: dict[str, set[str]] = {}  # per table: keys of this flush new to it

    async def prefetch(self, relevant: Relevant) -> None:
        streams = {r.stream_id for r, _ in relevant if r.stream_id.startswith("order:")}
        ids, _ = named(relevant)
        # A key that never left memory has no row; only written ones are worth a lookup. The
        # runs seen so far all stay in memory (a log holds few), so they are never read again.
        lookup = [s for s in streams if s not in self.orders and s in self.written_orders]
        wanted = [i for i in ids if i not in self.discrepancies and i in self.written_discrepancies]
        if lookup or wanted:
            await self._load(lookup, wanted)

    async def discrepancy(self, id_: str) -> Discrepancy | None:
        if id_ not in self.discrepancies and id_ not in self.written_discrepancies:
            return None
        return await super().discrepancy(id_)

    async def flush(self) -> None:
        # Rows never written before go in by COPY (_write); the rest, as upserts.
        self._fresh = {
            RECON_ORDERS.name: {s for s in self._dirty_orders if s not in self.written_orders},
            DISCREPANCIES.name: {
                i for i in self._dirty_discrepancies if i not in self.written_discrepancies
            },
        }
        for stream in self._dirty_orders:
            self.written_orders.add(stream)
        for id_ in self._dirty_discrepancies:
            self.written_discrepancies.add(id_)
        await super().flush()

    async def _write(self, table: Table, rows: list[tuple]) -> None:
        fresh = self._fresh.get(table.name, set())
        new = [row for row in rows if row[0] in fresh]
        await copy_rows(self._conn, table, self._names[table.name], new)
        await super()._write(table, [row for row in rows if row[0] not in fresh])

    async def evict(self) -> None:
        """Write everything and forget the orders and discrepancies once over the bound."""
        if len(self.orders) + len(self.discrepancies) > REBUILD_CACHE_ROWS:
            await self.flush()
            self.orders.clear()
            self.discrepancies.clear()


class DiscrepancyRebuilder:
    handled = None  # nearly every type: a filter would spare nothing

    def __init__(self, fold: Fold, select: Select, names: Mapping[str, str]) -> None:
        self._fold, self._select, self._names = fold, select, names
        self._rows: CachedRows | None = None

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        relevant = self._select(events)
        if not relevant:
            return
        rows = self._rows = self._rows or CachedRows(conn, self._names)
        await rows.prefetch(relevant)
        for recorded, event in relevant:
            await self._fold(rows, recorded, event)
        await rows.evict()

    async def finish(self, conn: asyncpg.Connection) -> None:
        if self._rows is not None:
            await self._rows.flush()
