"""What a rebuild keeps in memory while it fills empty shadow tables, and the keyed rebuild.

A rebuild is the one writer of its shadow tables, so rows can stay in memory across batches and
be written once each (COPY for new rows) instead of read and upserted batch after batch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from itertools import islice
from typing import Any, Protocol

import asyncpg

from ledger.log.store import RecordedEvent
from projections.base import KeyedProjection, Row, Table


class Rebuilder(Protocol):
    """A projection's own way to fill its empty shadow tables, batch by batch, in log order."""

    # The event types apply folds, so the rebuild reads only those; None reads every event.
    handled: frozenset[str] | None

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None: ...

    async def finish(self, conn: asyncpg.Connection) -> None:
        """Write whatever is still held in memory; the shadow tables are complete after."""


# Rows a rebuild keeps between batches, so that each is written once when it leaves the cache
# rather than once per batch that touches it, and is never read back while cached. An order row
# is ~1.5 KiB, which bounds the cache near 40 MiB however long the log is. It only has to exceed
# the rows touched while orders are in flight; a row evicted too early is simply reloaded.
REBUILD_CACHE_ROWS = 25_000
# Eviction goes down to this share of the bound, so write-backs come in a few large batches.
EVICT_DOWN_TO = 0.75
# Size of the filter of keys a rebuild has written (1 MiB). With two probes per key it wrongly
# answers "maybe written" for under 1% of keys up to ~300k written rows; past that the rate
# grows, but a wrong answer only costs a lookup that finds nothing, and memory stays fixed.
WRITTEN_FILTER_BITS = 1 << 23


class KeyFilter:
    """A Bloom filter of keys: `key in filter` is False only for a key never added.

    Fixed size whatever the number of keys, where a set of every key written would grow with
    the log. Uses hash(), so it is only meaningful within one process. Two probes, taken from
    the two halves of the 64-bit hash.
    """

    def __init__(self, bits: int = WRITTEN_FILTER_BITS) -> None:
        assert bits & (bits - 1) == 0, "a power of two, so that a mask picks the bit"
        self.mask = bits - 1
        self.bits = bytearray(bits // 8)

    def add(self, key: Hashable) -> None:
        h = hash(key)
        for bit in (h & self.mask, (h >> 32) & self.mask):
            self.bits[bit >> 3] |= 1 << (bit & 7)

    def __contains__(self, key: Hashable) -> bool:
        # Unrolled: this runs for every key a rebuild meets for the first time.
        h, bits, mask = hash(key), self.bits, self.mask
        first, second = h & mask, (h >> 32) & mask
        return bool(bits[first >> 3] & (1 << (first & 7))) and bool(
            bits[second >> 3] & (1 << (second & 7))
        )


class RowCache:
    """One table's rows while a rebuild fills it: the table starts empty and only this writes it.

    Bounded; rows leave in the order they came in, which suits rows that are busy for a while
    and then done, like orders (a row that stays busy longer is written and reloaded once per
    pass through the cache, which is cheap). A row is written when evicted or at `flush`: by
    COPY if the table does not have it yet, by the usual upsert if it does. A key that is
    neither cached nor ever evicted has no row, so only evicted keys are looked up.
    """

    def __init__(
        self,
        table: Table,
        physical: str,
        capacity: int = REBUILD_CACHE_ROWS,
        *,
        from_row: Callable[[Row], Any] = lambda row: row,
        to_row: Callable[[Any], Row] = lambda value: value,
    ) -> None:
        self.table = table
        self.physical = physical
        # Rows stay in the projection's own form while cached: converted once in, once out.
        self.from_row, self.to_row = from_row, to_row
        self.capacity = capacity
        self.rows: dict[str, Row | None] = {}  # in arrival order; None: the table has no row
        self.stored: set[str] = set()  # cached keys whose row the table already holds
        self.dirty: set[str] = set()  # cached keys whose row changed since it was stored
        self.evicted = KeyFilter()  # every key whose row left the cache for the table

    async def load(self, conn: asyncpg.Connection, keys: set[str]) -> None:
        """Cache every key in keys, reading the table only for keys that may be in it."""
        rows, evicted = self.rows, self.evicted
        lookup = []
        for key in keys:
            if key not in rows:
                rows[key] = None
                if key in evicted:
                    lookup.append(key)
        if lookup:
            for record in await conn.fetch(self.table.select_sql(self.physical), lookup):
                rows[record[0]] = self.from_row(tuple(record))
                self.stored.add(record[0])

    async def evict(self, conn: asyncpg.Connection) -> None:
        if len(self.rows) <= self.capacity:
            return
        leaving = list(islice(self.rows, len(self.rows) - int(self.capacity * EVICT_DOWN_TO)))
        await self._write(conn, leaving)
        for key in leaving:
            if self.rows.pop(key) is not None:
                self.evicted.add(key)
            self.stored.discard(key)
            self.dirty.discard(key)

    async def flush(self, conn: asyncpg.Connection) -> None:
        """Write every changed row; the cache is empty afterwards."""
        await self._write(conn, list(self.rows))
        self.rows.clear()
        self.stored.clear()
        self.dirty.clear()

    async def _write(self, conn: asyncpg.Connection, keys: list[str]) -> None:
        new: list[Row] = []
        updated: list[Row] = []
        for key in keys:
            if key in self.dirty:
                row = self.rows[key]
                assert row is not None  # only a fold result marks a key dirty
                (updated if key in self.stored else new).append(self.to_row(row))
        async with conn.transaction():
            await copy_rows(conn, self.table, self.physical, new)
            if updated:
                columns = list(zip(*updated, strict=True))
                await conn.execute(self.table.upsert_sql(self.physical), *columns)


async def copy_rows(
    conn: asyncpg.Connection, table: Table, physical: str, rows: Sequence[Row]
) -> None:
    """COPY rows the table cannot hold yet into it: a rebuild's way in for new rows."""
    if rows:
        names = [name for name, _ in table.columns]
        await conn.copy_records_to_table(physical, records=rows, columns=names)


class KeyedRebuilder:
    """A keyed projection's rebuild: the same fold, over rows kept in a RowCache."""

    handled = None  # key_of decides per event

    def __init__(self, projection: KeyedProjection, names: Mapping[str, str]) -> None:
        self._projection = projection
        self.cache = RowCache(
            projection.table,
            names[projection.table.name],
            from_row=projection.from_row,
            to_row=projection.to_row,
        )

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        keys = [self._projection.key_of(e) for e in events]
        wanted = {key for key in keys if key is not None}
        if not wanted:
            return
        cache = self.cache
        await cache.load(conn, wanted)
        cache.dirty |= self._projection.fold_into(cache.rows, keys, events)
        await cache.evict(conn)

    async def finish(self, conn: asyncpg.Connection) -> None:
        await self.cache.flush(conn)
