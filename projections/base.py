"""What a projection is: the tables it owns and how a batch of events changes them.

The runner (projections/runner.py) owns transactions and checkpoints; a projection only maps
events to rows. `KeyedProjection` covers the common shape (one row per key, a pure fold).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

import asyncpg

from ledger.log.store import RecordedEvent

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Table:
    """A read-model table; DDL is generated so live and shadow copies can never differ."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, SQL type); the first is the primary key
    indexes: tuple[str, ...] = ()  # column lists, e.g. "status, updated_at"

    @property
    def key(self) -> str:
        return self.columns[0][0]

    def create_sql(self, physical: str) -> list[str]:
        return [self.create_table_sql(physical), *self.create_index_sql(physical)]

    def create_table_sql(self, physical: str) -> str:
        cols = ", ".join(f"{name} {sql_type}" for name, sql_type in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {physical} ({cols}, PRIMARY KEY ({self.key}))"

    def create_index_sql(self, physical: str) -> list[str]:
        """Secondary indexes; a rebuild creates them after filling, one sorted build each."""
        return [
            f"CREATE INDEX IF NOT EXISTS {physical}_ix{i} ON {physical} ({index})"
            for i, index in enumerate(self.indexes)
        ]

    def select_sql(self, physical: str) -> str:
        return f"SELECT * FROM {physical} WHERE {self.key} = ANY($1::text[])"

    def upsert_sql(self, physical: str) -> str:
        names = ", ".join(name for name, _ in self.columns)
        arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(self.columns, start=1))
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in self.columns[1:])
        return (
            f"INSERT INTO {physical} ({names}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({self.key}) DO UPDATE SET {updates}"
        )


class Projection(Protocol):
    name: str
    tables: tuple[Table, ...]

    async def apply(
        self, conn: asyncpg.Connection, names: Mapping[str, str], events: Sequence[RecordedEvent]
    ) -> None:
        """Apply events (in global order) to the tables, named logical -> physical."""


def schema_fingerprint(projection: Projection) -> str:
    """Changes whenever a projection's tables change shape, which forces a rebuild."""
    text = repr([(t.name, t.columns, t.indexes) for t in projection.tables])
    return hashlib.sha256(
        f"{projection.name}:{getattr(projection, 'revision', 0)}:{text}".encode()
    ).hexdigest()


class KeyedProjection:
    """One table, one row per key, rows produced by a pure `fold(row, event) -> row | None`."""

    name: str
    table: Table
    # Bump when fold logic changes without a schema change, so stored rows get rebuilt.
    revision: int = 0

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.table,)

    def key_of(self, event: RecordedEvent) -> str | None:
        raise NotImplementedError

    def fold(self, row: Any, event: RecordedEvent) -> Any:
        """The pure fold over whatever `from_row` gives (a row tuple unless overridden)."""
        raise NotImplementedError

    def from_row(self, row: Row) -> Any:
        """The value `fold` works on, from a stored row; a rebuild converts each row once."""
        return row

    def to_row(self, value: Any) -> Row:
        return value

    async def apply(
        self, conn: asyncpg.Connection, names: Mapping[str, str], events: Sequence[RecordedEvent]
    ) -> None:
        physical = names[self.table.name]
        keys = [self.key_of(e) for e in events]
        wanted = {key for key in keys if key is not None}
        if not wanted:
            return
        found = await conn.fetch(self.table.select_sql(physical), list(wanted))
        rows: dict[str, Any] = {r[0]: self.from_row(tuple(r)) for r in found}
        changed = self._fold_into(rows, keys, events)
        if changed:
            columns = list(zip(*(self.to_row(rows[k]) for k in changed), strict=True))
            await conn.execute(self.table.upsert_sql(physical), *columns)

    async def apply_cached(
        self, conn: asyncpg.Connection, cache: RowCache, events: Sequence[RecordedEvent]
    ) -> None:
        """`apply` for a rebuild: the same fold, over rows kept in `cache` between batches."""
        keys = [self.key_of(e) for e in events]
        wanted = {key for key in keys if key is not None}
        if not wanted:
            return
        await cache.load(conn, wanted)
        cache.dirty |= self._fold_into(cache.rows, keys, events)
        await cache.evict(conn)

    def _fold_into(
        self,
        rows: dict[str, Row | None],
        keys: list[str | None],
        events: Sequence[RecordedEvent],
    ) -> set[str]:
        """Fold each event with a key into its row, in place; return the keys that changed.

        Keys come as a list parallel to events (None: not this projection's), computed once
        by the caller, which needs them first to load the rows.
        """
        changed: set[str] = set()
        fold = self.fold
        for key, event in zip(keys, events, strict=True):
            if key is not None and (new := fold(rows.get(key), event)) is not None:
                rows[key] = new
                changed.add(key)
        return changed


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
            if new:
                names = [name for name, _ in self.table.columns]
                await conn.copy_records_to_table(self.physical, records=new, columns=names)
            if updated:
                columns = list(zip(*updated, strict=True))
                await conn.execute(self.table.upsert_sql(self.physical), *columns)
