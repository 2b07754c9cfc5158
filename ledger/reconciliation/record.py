"""Recording vendor records: one page (of a vendor's listing or of a file) in one transaction.

Each record is observed once: on its order's stream when order_references knows it, else on the
run's stream; a safe correction it confirms goes in the same append. API runs and file imports
share this, so both heal orders by exactly the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import asyncpg
import msgspec

from ledger.log import events as ev
from ledger.log import store
from ledger.metrics import METRICS
from ledger.orders.model import OrderState, evolve
from ledger.reconciliation.corrections import VendorRecord, observation, order_events

# A writer appending to a page's order between our read and our append aborts the page, which is
# replayed from a fresh read. Orders take a few events over seconds: this many collisions is a bug.
PAGE_CONFLICT_ATTEMPTS = 5


class OrderConflict(Exception):
    """An order changed between our read and our append, on every attempt; retry the run."""


class Page(NamedTuple):
    number: int
    records: Sequence[VendorRecord]
    next_cursor: str | None


class PageOutcome(NamedTuple):
    run_version: int  # the run stream's version after the page
    unmatched: int
    corrections: int


def run_stream(run_id: str) -> str:
    return f"reconciliation:{run_id}"


async def _order_states(
    conn: asyncpg.Connection, stream_ids: list[str]
) -> dict[str, tuple[int, OrderState | None]]:
    """(head version, folded state) of each order stream, read in one query."""
    rows = await conn.fetch(
        "SELECT stream_id, version, data, recorded_at FROM events"
        " WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, version",
        stream_ids,
    )
    states: dict[str, tuple[int, OrderState | None]] = {}
    for row in rows:
        stream_id, version = row["stream_id"], row["version"]
        _, state = states.get(stream_id, (0, None))
        event = ev.decode(row["data"])
        states[stream_id] = (version, evolve(state, event, stream_id, version, row["recorded_at"]))
    return states


async def _write_page(
    conn: asyncpg.Connection,
    run: ev.ReconciliationStarted,
    run_version: int,
    page: Page,
    now: datetime,
) -> PageOutcome:
    run_id, vendor, number = run.run_id, run.vendor, page.number
    metadata = {"actor": "reconciliation", "causation_id": run_id}
    known = dict(
        await conn.fetch(
            "SELECT vendor_reference, stream_id FROM order_references"
            " WHERE vendor = $1 AND vendor_reference = ANY($2::text[])",
            vendor,
            list({r.reference for r in page.records}),
        )
    )
    by_stream: dict[str, list[VendorRecord]] = {}
    unmatched = []
    for record in page.records:
        if (stream_id := known.get(record.reference)) is None:
            unmatched.append(observation(record, run_id, vendor, number, now))
        else:
            by_stream.setdefault(stream_id, []).append(record)
    recorded = ev.ReconciliationPageRecorded(
        run_id=run_id,
        page=number,
        records=len(page.records),
        next_cursor=page.next_cursor,
        recorded_at=now,
    )
    # The run stream first, at its strict version: a second writer of this page (two resumers)
    # waits here on the unique index and then fails before touching any order.
    run_events = [*unmatched, recorded]
    run_version = await store.append(
        conn, run_stream(run_id), run_events, run_version, metadata=metadata
    )
    corrections, appends = 0, []
    streams = sorted(by_stream)  # one lock order for every run: concurrent runs cannot deadlock
    states = await _order_states(conn, streams)
    for stream_id in streams:
        version, state = states.get(stream_id, (0, None))
        mine = by_stream[stream_id]
        events = order_events(state, mine, run_id=run_id, vendor=vendor, page=number, now=now)
        corrections += len(events) - len(mine)
        appends.append((stream_id, version, events))
    await _append_orders(conn, appends, metadata)
    return PageOutcome(run_version, len(unmatched), corrections)


async def _append_orders(
    conn: asyncpg.Connection,
    appends: list[tuple[str, int, list[ev.Event]]],
    metadata: dict[str, str],
) -> None:
    """Each order's events at its strict version, pipelined: store.append's statement, sent for
    the whole page in one round trip instead of one per order (most of a page's cost)."""
    meta = msgspec.json.encode(metadata).decode()
    args = [
        (
            stream,
            version,
            [ev.type_name(e) for e in evs],
            [ev.encode(e) for e in evs],
            [meta] * len(evs),
        )
        for stream, version, evs in appends
    ]
    try:
        await conn.executemany("SELECT append_events($1, $2, $3, $4, $5)", args)
    except asyncpg.UniqueViolationError:
        raise OrderConflict from None
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == "LD001":  # append_events: no such version (see store.append)
            raise OrderConflict from None
        raise
    METRICS.appends.inc(sum(len(events) for _, _, events in appends))


async def record_page(
    conn: asyncpg.Connection,
    run: ev.ReconciliationStarted,
    run_version: int,
    page: Page,
    now: datetime,
) -> PageOutcome:
    """Record one page in one transaction, after the run's start (run_version >= 1).
    A ConcurrencyConflict on the run stream propagates: someone else recorded this page.
    """
    for attempt in range(1, PAGE_CONFLICT_ATTEMPTS + 1):
        try:
            async with conn.transaction():
                return await _write_page(conn, run, run_version, page, now)
        except (OrderConflict, asyncpg.DeadlockDetectedError):
            if attempt == PAGE_CONFLICT_ATTEMPTS:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover
