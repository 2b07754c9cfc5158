"""The event store: append to a stream, read a stream, follow the whole log by cursor."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import msgspec

from ledger.log import events as ev
from ledger.metrics import METRICS

NOTIFY_CHANNEL = "ledger_events"
_metadata_encoder = msgspec.json.Encoder()
# Called after every append (ledger/log/notifier.py wakes followers from here).
_append_hooks: list[Callable[[], None]] = []


def on_append(hook: Callable[[], None]) -> Callable[[], None]:
    """Call `hook` after each append; returns the function that stops it."""
    _append_hooks.append(hook)
    return lambda: _append_hooks.remove(hook)


class ConcurrencyConflict(Exception):
    """The stream was not at the expected version: another writer appended first."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(f"stream {stream_id!r} is not at version {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version


class Cursor(NamedTuple):
    """A position in the global order: (writing transaction, identity position)."""

    tx_id: int
    position: int


CURSOR_ZERO = Cursor(0, 0)


class RecordedEvent(NamedTuple):
    position: int
    tx_id: int
    stream_id: str
    version: int
    type: str
    data: bytes
    # None when read by a follower (read_all, read_range), which never needs it.
    metadata: dict[str, Any] | None
    recorded_at: datetime

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.tx_id, self.position)

    def decode(self) -> ev.AnyEvent:
        return ev.decode(self.data)


_COLUMNS = "position, tx_id, stream_id, version, type, data, metadata, recorded_at"
# Followers fold payloads and never read metadata: leaving it out of their reads spares a
# jsonb transfer and a decode per event (a rebuild reads millions).
_FOLD_COLUMNS = "position, tx_id, stream_id, version, type, data, NULL, recorded_at"

# Only transactions below the snapshot's xmin are certainly finished, so nothing can later
# commit with a smaller (tx_id, position): reading up to there never skips a late committer.
_READ_ALL = f"""
    SELECT {_FOLD_COLUMNS} FROM events
    WHERE (tx_id, position) > ($1::xid8, $2::bigint)
      AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY tx_id, position
    LIMIT $3"""

_READ_RANGE = f"""
    SELECT {_FOLD_COLUMNS} FROM events
    WHERE (tx_id, position) > ($1::xid8, $2::bigint)
      AND (tx_id, position) <= ($3::xid8, $4::bigint)
    ORDER BY tx_id, position
    LIMIT $5"""
# The same range, only events of the given types: a rebuild that folds half the log's types
# is spared the other half's payloads on the wire and as records.
_READ_RANGE_OF_TYPES = f"""
    SELECT {_FOLD_COLUMNS} FROM events
    WHERE (tx_id, position) > ($1::xid8, $2::bigint)
      AND (tx_id, position) <= ($3::xid8, $4::bigint)
      AND type = ANY($6::text[])
    ORDER BY tx_id, position
    LIMIT $5"""


def _record(row: asyncpg.Record) -> RecordedEvent:
    metadata = row["metadata"]
    return RecordedEvent(
        row["position"],
        row["tx_id"],
        row["stream_id"],
        row["version"],
        row["type"],
        row["data"],
        msgspec.json.decode(metadata) if isinstance(metadata, str) else metadata,
        row["recorded_at"],
    )


class Stamp(NamedTuple):
    """What the log set on an appended event: its version and when it was recorded."""

    version: int
    recorded_at: datetime


class Alongside(NamedTuple):
    """One more INSERT made in the append's own statement: atomic with it, without the round
    trips of a transaction. Its parameters are numbered from $6 (the append takes $1 to $5)."""

    sql: str
    args: tuple[Any, ...]


async def append(
    conn: asyncpg.Connection | asyncpg.Pool,
    stream_id: str,
    events: Sequence[ev.Event],
    expected_version: int,
    *,
    metadata: dict[str, Any] | None = None,
) -> int:
    """Append events after expected_version (0 for a new stream); return the new version.

    One statement: atomic on its own, or part of the caller's transaction if it has one.
    """
    if not events:
        return expected_version
    stamps = await append_stamped(conn, stream_id, events, expected_version, metadata=metadata)
    return stamps[-1].version


async def append_stamped(
    conn: asyncpg.Connection | asyncpg.Pool,
    stream_id: str,
    events: Sequence[ev.Event],
    expected_version: int,
    *,
    metadata: dict[str, Any] | None = None,
    alongside: Alongside | None = None,
) -> list[Stamp]:
    """`append` answering with each event's Stamp, so a writer holding the stream's state can
    fold the events it wrote without reading them back; events must not be empty."""
    meta = _metadata_encoder.encode(metadata or {}).decode()
    sql = "SELECT out_version, out_recorded_at FROM append_events($1, $2, $3, $4, $5)"
    if alongside is not None:
        sql = f"""WITH appended AS (SELECT * FROM append_events($1, $2, $3, $4, $5)),
                       alongside AS ({alongside.sql})
                  SELECT out_version, out_recorded_at FROM appended ORDER BY out_version"""
    try:
        rows = await conn.fetch(
            sql,
            stream_id,
            expected_version,
            [ev.type_name(e) for e in events],
            [ev.encode(e) for e in events],
            [meta] * len(events),
            *(alongside.args if alongside else ()),
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.table_name not in (None, "events"):
            raise  # the alongside insert's own constraint: not a lost race on the stream
        raise ConcurrencyConflict(stream_id, expected_version) from None
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == "LD001":
            raise ConcurrencyConflict(stream_id, expected_version) from None
        raise
    METRICS.appends.inc(len(events))
    for hook in _append_hooks:
        hook()
    return [Stamp(r[0], r[1]) for r in rows]


async def append_observed(
    conn: asyncpg.Connection | asyncpg.Pool,
    stream_id: str,
    events: Sequence[ev.Event],
    *,
    metadata: dict[str, Any] | None = None,
) -> int:
    """Append facts that do not depend on the stream's state (an attempt, a webhook) at its head.

    Decisions use `append` with the version they were decided on; observations only need to
    land in order, so a conflict just means "read the new head and try again".
    """
    while True:
        version = await conn.fetchval(
            "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1", stream_id
        )
        try:
            if isinstance(conn, asyncpg.Connection) and conn.is_in_transaction():
                # A savepoint, so a lost race does not abort the caller's transaction.
                async with conn.transaction():
                    return await append(conn, stream_id, events, version, metadata=metadata)
            return await append(conn, stream_id, events, version, metadata=metadata)
        except ConcurrencyConflict:
            continue


async def read_stream(
    conn: asyncpg.Connection | asyncpg.Pool, stream_id: str, after_version: int = 0
) -> list[RecordedEvent]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version",
        stream_id,
        after_version,
    )
    return [_record(r) for r in rows]


async def read_all(
    conn: asyncpg.Connection | asyncpg.Pool, after: Cursor, limit: int = 1000
) -> list[RecordedEvent]:
    """The next committed events after the cursor, in global order, never skipping one."""
    rows = await conn.fetch(_READ_ALL, after.tx_id, after.position, limit)
    return [RecordedEvent._make(r) for r in rows]


async def read_range(
    conn: asyncpg.Connection | asyncpg.Pool,
    after: Cursor,
    upto: Cursor,
    limit: int = 1000,
    types: Collection[str] | None = None,
) -> list[RecordedEvent]:
    """Events in (after, upto], of `types` only if given; upto must come from an earlier
    read_all, so all are committed."""
    bounds = (after.tx_id, after.position, upto.tx_id, upto.position, limit)
    if types is None:
        rows = await conn.fetch(_READ_RANGE, *bounds)
    else:
        rows = await conn.fetch(_READ_RANGE_OF_TYPES, *bounds, list(types))
    return [RecordedEvent._make(r) for r in rows]


async def head(conn: asyncpg.Connection | asyncpg.Pool) -> Cursor:
    """The cursor of the last event that a follower may read now."""
    row = await conn.fetchrow(
        """SELECT tx_id, position FROM events
           WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())
           ORDER BY tx_id DESC, position DESC LIMIT 1"""
    )
    return CURSOR_ZERO if row is None else Cursor(row["tx_id"], row["position"])
