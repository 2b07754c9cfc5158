"""The announcer: follows the log and queues, for each merchant endpoint that wants it, every
announcement (ledger/webhooks/outgoing.py) the log's events make. Never the request path.

Two cursors, each kept in projection_checkpoints and moved in the same transaction as the rows
it queued, so an announcement is queued once whatever crashes:
- orders: the whole log as it commits;
- finance: only up to the discrepancy projection's checkpoint, since what a run opened, and
  how a discrepancy reads, is that read model's (a lagging projection delays these, and only
  these).
One node runs it (advisory lease).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import NamedTuple

import asyncpg

from ledger.log import store
from ledger.log.followers import follow_with_lease
from ledger.log.store import Cursor, RecordedEvent
from ledger.orders.model import stream_client
from ledger.webhooks.outgoing import STATUS_EVENTS, Announcement, announce, order_changes
from projections.discrepancies import SHAPE, discrepancy_view, run_view

NAME = "webhook_announcer"
FINANCE = "webhook_announcer_finance"
# Events read per round: a few statements per order announced, so a batch stays well under a
# second and its transaction short.
BATCH_SIZE = 1000
# The projection whose checkpoint the finance cursor may not pass. Until its live tables have the
# shape this code reads (its SHAPE, once an upgrade's rebuild swaps them in), finance
# announcements wait rather than query columns those tables lack.
DISCREPANCIES = "discrepancies"

_QUEUE_EVENT = """INSERT INTO webhook_events (id, type, client_id, ordering_key, seq, occurred_at,
                      payload) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"""
# Who gets an announcement: endpoints made before it happened that subscribe to its type and
# may see it (webhook_visible, migrations/0011).
_QUEUE_DELIVERIES = """
    INSERT INTO webhook_deliveries (endpoint_id, event_id, ordering_key, seq, occurred_at,
                                    queued_at, next_attempt_at)
    SELECT id, $1, $3, $4, $5, $6, $6 FROM webhook_endpoints
    WHERE NOT deleted AND $2 = ANY(events) AND created_at <= $5
      AND webhook_visible($2, $7, client_id, finance_scope)
    ON CONFLICT DO NOTHING"""


async def _checkpoint(conn: asyncpg.Connection, name: str) -> Cursor:
    row = await conn.fetchrow(
        "SELECT tx_id, position FROM projection_checkpoints WHERE name = $1", name
    )
    return Cursor(row["tx_id"], row["position"]) if row else store.CURSOR_ZERO


class Audience(NamedTuple):
    """Who has endpoints now: announcements nobody could receive are not derived at all (a
    client's history before its first endpoint is not announced, nor recoverable)."""

    clients: frozenset[str]
    finance_all: bool

    def wants(self, client_id: str | None) -> bool:
        return self.finance_all or client_id in self.clients


async def _audience(conn: asyncpg.Connection) -> Audience:
    rows = await conn.fetch(
        "SELECT DISTINCT client_id, finance_scope = 'all' AS every FROM webhook_endpoints"
        " WHERE NOT deleted"
    )
    return Audience(frozenset(r["client_id"] for r in rows), any(r["every"] for r in rows))


async def _save(conn: asyncpg.Connection, name: str, cursor: Cursor) -> None:
    await conn.execute(
        "UPDATE projection_checkpoints SET tx_id = $2, position = $3,"
        " updated_at = clock_timestamp() WHERE name = $1",
        name,
        cursor.tx_id,
        cursor.position,
    )


async def _order_announcements(
    conn: asyncpg.Connection, batch: list[RecordedEvent], audience: Audience
) -> list[Announcement]:
    versions: dict[str, set[int]] = {}
    for e in batch:
        if (
            e.type in STATUS_EVENTS
            and e.stream_id.startswith("order:")
            and stream_client(e.stream_id) in audience.clients
        ):
            versions.setdefault(e.stream_id, set()).add(e.version)
    announced: list[Announcement] = []
    for stream_id in sorted(versions):
        upto = max(versions[stream_id])
        stream = [e for e in await store.read_stream(conn, stream_id) if e.version <= upto]
        announced.extend(order_changes(stream, versions[stream_id]))
    return announced


async def _finance_announcements(
    conn: asyncpg.Connection, batch: list[RecordedEvent], audience: Audience
) -> list[Announcement]:
    announced: list[Announcement] = []
    for e in batch:
        if e.type == "ReconciliationCompleted":
            run_id = e.stream_id.removeprefix("reconciliation:")
            # A finding the run healed itself (auto_resolved) leaves nothing to do: the order
            # it moved announces its own status. One it found again after it was settled is
            # opened again, announced as such once for this run.
            for row in await conn.fetch(
                "SELECT * FROM discrepancies WHERE (first_seen_run = $1 OR reopened_run = $1)"
                " AND state <> 'auto_resolved' ORDER BY id",
                run_id,
            ):
                if audience.wants(row["client_id"]):
                    announced.append(_opened(row, e, run_id))
            run = await conn.fetchrow("SELECT * FROM reconciliation_runs WHERE run_id = $1", run_id)
            if run is not None and audience.finance_all:
                ordering = (e.stream_id, e.version)
                announced.append(
                    announce(
                        "reconciliation.completed",
                        run_id,
                        None,
                        ordering,
                        e.recorded_at,
                        run_view(run),
                    )
                )
        elif e.type == "DiscrepancyResolved":
            event = e.decode()
            row = await conn.fetchrow(
                "SELECT * FROM discrepancies WHERE id = $1", event.discrepancy_id
            )
            if row is not None and audience.wants(row["client_id"]):
                subject = f"{e.stream_id}:{e.version}"  # a resolution per resolving event
                announced.append(
                    _discrepancy("discrepancy.resolved", subject, row, e, e.recorded_at)
                )
    return announced


def _opened(row: asyncpg.Record, completed: RecordedEvent, run_id: str) -> Announcement:
    # One opening per discrepancy, and one per run that reopened it (its time is the run's).
    if row["first_seen_run"] == run_id:
        return _discrepancy("discrepancy.opened", row["id"], row, completed, row["opened_at"])
    subject, at = f"{row['id']}:reopened:{run_id}", completed.recorded_at
    return _discrepancy("discrepancy.opened", subject, row, completed, at)


def _discrepancy(
    kind: str, subject: str, row: asyncpg.Record, cause: RecordedEvent, at: datetime
) -> Announcement:
    ordering = (f"discrepancy:{row['id']}", cause.position)
    return announce(kind, subject, row["client_id"], ordering, at, discrepancy_view(row))


async def queue(conn: asyncpg.Connection, announced: Iterable[Announcement], now: datetime) -> int:
    """Store each announcement once and queue its deliveries; how many deliveries were queued."""
    queued = 0
    for a in announced:
        await conn.execute(
            _QUEUE_EVENT, a.id, a.type, a.client_id, a.ordering_key, a.seq, a.occurred_at, a.payload
        )
        status = await conn.execute(
            _QUEUE_DELIVERIES, a.id, a.type, a.ordering_key, a.seq, a.occurred_at, now, a.client_id
        )
        queued += int(status.split()[-1])
    return queued


class Announcer:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    async def _round(self, conn: asyncpg.Connection, name: str, upto: Cursor | None, derive) -> int:
        """Announce what follows the cursor, up to `upto` (default: the log's head); the number
        of events read (BATCH_SIZE: there is more)."""
        after = await _checkpoint(conn, name)
        # The bound is read before the audience: an endpoint made after that read wants only
        # what happens after it (created_at), which lies past the bound.
        bound = upto if upto is not None else await store.head(conn)
        if not bound > after:
            return 0
        audience = await _audience(conn)
        if not audience.clients and not audience.finance_all:
            await _save(conn, name, bound)  # nobody could be told anything: skip it unread
            return 0
        batch = await store.read_range(conn, after, bound, BATCH_SIZE)
        async with conn.transaction():
            queued = await queue(conn, await derive(conn, batch, audience), self._clock())
            await _save(conn, name, batch[-1].cursor)
            if queued:
                # Wake the deliverer (it listens with the followers) rather than let it poll.
                await conn.execute("SELECT pg_notify($1, '')", store.NOTIFY_CHANNEL)
        return len(batch)

    async def step(self, conn: asyncpg.Connection) -> bool:
        """One round of each cursor; True while either has more to read."""
        orders = await self._round(conn, NAME, None, _order_announcements)
        read_model = await conn.fetchrow(
            "SELECT tx_id, position, schema_hash FROM projection_checkpoints WHERE name = $1",
            DISCREPANCIES,
        )
        finance = 0
        if read_model is not None and read_model["schema_hash"] == SHAPE:
            upto = Cursor(read_model["tx_id"], read_model["position"])
            finance = await self._round(conn, FINANCE, upto, _finance_announcements)
        return BATCH_SIZE in (orders, finance)

    async def run(self, dsn: str, stop: asyncio.Event, poll_interval: float) -> None:
        async def start(conn: asyncpg.Connection) -> None:
            for name in (NAME, FINANCE):
                await conn.execute(
                    "INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING",
                    name,
                )

        await follow_with_lease(dsn, NAME, stop, poll_interval, self.step, start)
