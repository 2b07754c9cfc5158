"""The hash chain, seals over it, and `verify`, which recomputes both.

Each event's hash links it to the previous event of its stream (computed in the database by
append_events; recomputed here independently). A seal digests every event hash in cursor order
up to a point, chained to the previous seal, so rewriting a whole stream's chain is caught too.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from ledger.log import store
from ledger.log.leases import LeaseKind
from ledger.log.store import CURSOR_ZERO, Cursor

GENESIS = bytes(32)
# Events folded into a seal per query: bounded memory however long the log is.
SEAL_BATCH = 10_000


def link_hash(prev: bytes, stream_id: str, version: int, type_: str, data: bytes) -> bytes:
    """Must equal event_hash() in migrations/0001_events.sql."""
    stream = stream_id.encode()
    kind = type_.encode()
    return hashlib.sha256(
        b"".join(
            (
                prev,
                struct.pack(">i", len(stream)),
                stream,
                struct.pack(">q", version),
                struct.pack(">i", len(kind)),
                kind,
                data,
            )
        )
    ).digest()


@dataclass(frozen=True)
class Problem:
    position: int
    stream_id: str
    version: int
    reason: str

    def __str__(self) -> str:
        return (
            f"event {self.position} (stream {self.stream_id} version {self.version}): {self.reason}"
        )


@dataclass(frozen=True)
class Report:
    events: int
    streams: int
    seals: int
    problem: Problem | str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def _first_chain_problem(
    conn: asyncpg.Connection, progress: Callable[[int, int], None] | None = None
) -> tuple[int, int, Problem | None]:
    """Walk every stream in version order; return the bad event earliest in the log."""
    events = streams = 0
    worst: tuple[Cursor, Problem] | None = None
    stream, prev, expected = None, GENESIS, 1
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        # The same snapshot as the walk, so the count is the walk's.
        total = await conn.fetchval("SELECT count(*) FROM events") if progress else 0
        query = "SELECT position, tx_id, stream_id, version, type, data, hash FROM events "
        query += "ORDER BY stream_id, version"
        async for row in conn.cursor(query, prefetch=5000):
            events += 1
            if progress is not None:
                progress(events, total)
            if row["stream_id"] != stream:
                stream, prev, expected = row["stream_id"], GENESIS, 1
                streams += 1
            reason = None
            if row["version"] != expected:
                reason = (
                    f"expected version {expected}, found {row['version']} (an event is missing)"
                )
            elif link_hash(prev, stream, row["version"], row["type"], row["data"]) != row["hash"]:
                reason = "stored payload does not match its hash chain"
            if reason:
                cursor = Cursor(row["tx_id"], row["position"])
                if worst is None or cursor < worst[0]:
                    worst = (cursor, Problem(row["position"], stream, row["version"], reason))
            prev, expected = row["hash"], row["version"] + 1
    return events, streams, None if worst is None else worst[1]


async def digest_range(conn: asyncpg.Connection, prev: bytes, after: Cursor, upto: Cursor):
    """The seal digest over events in (after, upto], chained to prev: (digest, events)."""
    digest, count = hashlib.sha256(prev), 0
    while True:
        rows = await conn.fetch(
            """SELECT tx_id, position, hash FROM events
               WHERE (tx_id, position) > ($1::xid8, $2::bigint)
                 AND (tx_id, position) <= ($3::xid8, $4::bigint)
               ORDER BY tx_id, position LIMIT $5""",
            *after,
            *upto,
            SEAL_BATCH,
        )
        if not rows:
            return digest.digest(), count
        for row in rows:
            digest.update(row["hash"])
        count += len(rows)
        after = Cursor(rows[-1]["tx_id"], rows[-1]["position"])


async def seal(conn: asyncpg.Connection) -> int:
    """Seal every readable event after the last seal; return how many were sealed."""
    async with conn.transaction():
        # One sealer at a time across nodes; the lock ends with the transaction.
        await conn.execute("SELECT pg_advisory_xact_lock($1, 0)", int(LeaseKind.SEAL))
        last = await conn.fetchrow(
            "SELECT upto_tx_id, upto_position, digest FROM ledger_seals"
            " ORDER BY seal_id DESC LIMIT 1"
        )
        after = CURSOR_ZERO if last is None else Cursor(last["upto_tx_id"], last["upto_position"])
        prev = GENESIS if last is None else last["digest"]
        upto = await store.head(conn)
        if upto <= after:
            return 0
        digest, count = await digest_range(conn, prev, after, upto)
        await conn.execute(
            "INSERT INTO ledger_seals"
            " (upto_tx_id, upto_position, event_count, digest, prev_digest)"
            " VALUES ($1, $2, $3, $4, $5)",
            *upto,
            count,
            digest,
            prev,
        )
        return count


async def _first_seal_problem(conn: asyncpg.Connection) -> tuple[int, str | None]:
    after, prev, seals = CURSOR_ZERO, GENESIS, 0
    for row in await conn.fetch("SELECT * FROM ledger_seals ORDER BY seal_id"):
        seals += 1
        upto = Cursor(row["upto_tx_id"], row["upto_position"])
        digest, count = await digest_range(conn, prev, after, upto)
        if row["prev_digest"] != prev or digest != row["digest"] or count != row["event_count"]:
            return seals, (
                f"seal {row['seal_id']} over events after {tuple(after)} up to {tuple(upto)} "
                f"does not match ({count} events now, {row['event_count']} when sealed)"
            )
        after, prev = upto, row["digest"]
    return seals, None


async def verify(
    conn: asyncpg.Connection, progress: Callable[[int, int], None] | None = None
) -> Report:
    """Every chain, then every seal; `progress(done, total)` is told of each event walked."""
    events, streams, problem = await _first_chain_problem(conn, progress)
    seals, seal_problem = await _first_seal_problem(conn)
    return Report(events, streams, seals, problem or seal_problem)
