"""What a projection is: the tables it owns and how a batch of events changes them.

The runner (projections/runner.py) owns transactions and checkpoints; a projection only maps
events to rows. `KeyedProjection` covers the common shape (one row per key, a pure fold).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
        changed = self.fold_into(rows, keys, events)
        if changed:
            columns = list(zip(*(self.to_row(rows[k]) for k in changed), strict=True))
            await conn.execute(self.table.upsert_sql(physical), *columns)

    def fold_into(
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
