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

from ledger.store import RecordedEvent

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
        cols = ", ".join(f"{name} {sql_type}" for name, sql_type in self.columns)
        statements = [f"CREATE TABLE IF NOT EXISTS {physical} ({cols}, PRIMARY KEY ({self.key}))"]
        for i, index in enumerate(self.indexes):
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {physical}_ix{i} ON {physical} ({index})"
            )
        return statements

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

    def fold(self, row: Row | None, event: RecordedEvent) -> Row | None:
        raise NotImplementedError

    async def apply(
        self, conn: asyncpg.Connection, names: Mapping[str, str], events: Sequence[RecordedEvent]
    ) -> None:
        physical = names[self.table.name]
        relevant = [(key, e) for e in events if (key := self.key_of(e)) is not None]
        if not relevant:
            return
        keys = list({key for key, _ in relevant})
        found = await conn.fetch(
            f"SELECT * FROM {physical} WHERE {self.table.key} = ANY($1::text[])", keys
        )
        rows: dict[str, Row | None] = {r[0]: tuple(r) for r in found}
        changed: set[str] = set()
        for key, event in relevant:
            new = self.fold(rows.get(key), event)
            if new is not None:
                rows[key] = new
                changed.add(key)
        if changed:
            columns = list(zip(*(rows[k] for k in changed), strict=True))
            await conn.execute(self.table.upsert_sql(physical), *columns)
