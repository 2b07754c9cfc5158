"""Tables of the discrepancy projection, and the rows one batch reads and writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from ledger.log import events as ev
from ledger.log.store import RecordedEvent
from ledger.orders.model import OrderState
from projections.base import Table
from projections.discrepancies.matching import KINDS, Discrepancy, Note, OrderFacts, discrepancy_id

RECON_ORDERS = Table(
    name="recon_orders",
    columns=(
        ("stream_id", "text"),
        ("vendor", "text"),
        ("reference", "text"),
        ("status", "text"),
        ("amount_minor", "bigint"),
        ("currency", "text"),
        ("created_at", "timestamptz"),
        # JSON arrays as text: unnest() in the batch upsert would flatten real array columns.
        ("webhook_statuses", "text"),
        ("vendor_order_ids", "text"),
        ("last_vendor_status", "text"),
        ("client_id", "text"),
        ("state", "bytea"),
    ),
    indexes=("vendor, created_at",),
)
DISCREPANCIES = Table(
    name="discrepancies",
    columns=(
        ("id", "text"),
        ("kind", "text"),
        ("vendor", "text"),
        ("reference", "text"),
        ("stream_id", "text"),
        ("vendor_order_id", "text"),
        ("our_status", "text"),
        ("vendor_status", "text"),
        ("our_amount_minor", "bigint"),
        ("vendor_amount_minor", "bigint"),
        ("our_currency", "text"),
        ("vendor_currency", "text"),
        ("first_seen_run", "text"),
        ("last_seen_run", "text"),
        ("state", "text"),
        ("history", "text"),
        ("opened_at", "timestamptz"),
        ("updated_at", "timestamptz"),
        ("client_id", "text"),
        ("reopened_run", "text"),
        ("resolutions", "integer"),
    ),
    indexes=(
        "state, kind, opened_at",
        "stream_id",
        "opened_at",
        "client_id, opened_at",
        # what a run's completion announces: the findings it opened, and those it reopened
        "first_seen_run",
        "reopened_run",
    ),
)
# Which orders each unfinished run has seen at the vendor: what its completion judges missing.
# Kept per run, not as one "last run" per order, so overlapping or resumed runs of one window
# cannot hide each other's sightings; a run's rows go when it completes.
SIGHTINGS = Table(
    name="recon_sightings",
    columns=(("sighting", "text"), ("run_id", "text"), ("stream_id", "text")),
    indexes=("run_id, stream_id",),
)
COUNTERS = ("records_seen", "matched", *KINDS, "missed_webhooks", "auto_resolved")
RUNS = Table(
    name="reconciliation_runs",
    columns=(
        ("run_id", "text"),
        ("vendor", "text"),
        ("source", "text"),
        ("window_start", "timestamptz"),
        ("window_end", "timestamptz"),
        ("started_at", "timestamptz"),
        ("completed_at", "timestamptz"),
        ("pages", "integer"),
        *((name, "integer") for name in COUNTERS),
    ),
)
_history = msgspec.json.Encoder()
_history_decoder = msgspec.json.Decoder(tuple[Note, ...])
_state_decoder = msgspec.json.Decoder(OrderState)
_strings = msgspec.json.Decoder(tuple[str, ...])


def _discrepancy(row: asyncpg.Record) -> Discrepancy:
    fields = dict(row)
    fields["history"] = _history_decoder.decode(fields["history"])
    return Discrepancy(**fields)


# A batch's events as the projection folds them: payloads decoded only where it looks into them.
Relevant = Sequence[tuple[RecordedEvent, ev.AnyEvent | None]]


def named(
    relevant: Sequence[tuple[RecordedEvent, ev.AnyEvent | None]],
) -> tuple[list[str], set[str]]:
    """The discrepancy ids and run ids a batch's events name."""
    ids, runs = [], set()
    for recorded, event in relevant:
        if event is None:
            continue  # an order's own event: it names neither
        if isinstance(event, ev.DiscrepancyResolved):
            ids.append(event.discrepancy_id)
        if isinstance(event, ev.VendorRecordObserved):
            runs.add(event.run_id)
            if not recorded.stream_id.startswith("order:"):
                ids.append(
                    discrepancy_id("missing_internally", event.vendor, event.vendor_order_id)
                )
        if isinstance(event, ev.ReconciliationCompleted):
            runs.add(event.run_id)
    return ids, runs


class Rows:
    """The batch's working set: rows read once, folded in memory, written back once."""

    def __init__(self, conn: asyncpg.Connection, names: Mapping[str, str]) -> None:
        self._conn, self._names = conn, names
        self.orders: dict[str, tuple[OrderFacts | None, OrderState | None]] = {}
        self.discrepancies: dict[str, Discrepancy] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self._dirty_orders: set[str] = set()
        self._sightings: set[tuple[str, str]] = set()
        self._dirty_discrepancies: set[str] = set()

    async def prefetch(self, relevant: Relevant) -> None:
        streams = list({r.stream_id for r, _ in relevant if r.stream_id.startswith("order:")})
        ids, runs = named(relevant)
        await self._load(streams, ids)
        for row in await self._conn.fetch(
            f"SELECT * FROM {self._names['reconciliation_runs']} WHERE run_id = ANY($1)", list(runs)
        ):
            self.runs[row["run_id"]] = dict(row)

    async def _load(self, streams: list[str], ids: list[str]) -> None:
        """Orders by stream, with every discrepancy about them or named in ids."""
        for row in await self._conn.fetch(
            f"SELECT * FROM {self._names['recon_orders']} WHERE stream_id = ANY($1)", streams
        ):
            facts = dict(row)
            state = _state_decoder.decode(facts.pop("state"))
            facts["webhook_statuses"] = _strings.decode(facts["webhook_statuses"])
            facts["vendor_order_ids"] = _strings.decode(facts["vendor_order_ids"])
            self.orders[row["stream_id"]] = (OrderFacts(**facts), state)
        for row in await self._conn.fetch(
            f"SELECT * FROM {self._names['discrepancies']}"
            " WHERE stream_id = ANY($1) OR id = ANY($2)",
            streams,
            ids,
        ):
            self.discrepancies.setdefault(row["id"], _discrepancy(row))

    def new_run(self, event: ev.ReconciliationStarted) -> dict[str, Any]:
        return {
            "run_id": event.run_id,
            "vendor": event.vendor,
            "source": event.source,
            "window_start": event.window_start,
            "window_end": event.window_end,
            "started_at": event.started_at,
            "completed_at": None,
            "pages": 0,
            **dict.fromkeys(COUNTERS, 0),
        }

    def set_order(self, facts: OrderFacts, state: OrderState | None) -> None:
        self.orders[facts.stream_id] = (facts, state)
        self._dirty_orders.add(facts.stream_id)

    def sighted(self, run_id: str, stream_id: str) -> None:
        self._sightings.add((run_id, stream_id))

    def cached_discrepancy(self, id_: str) -> Discrepancy | None:
        return self.discrepancies.get(id_)

    async def discrepancy(self, id_: str) -> Discrepancy | None:
        if id_ not in self.discrepancies:
            row = await self._conn.fetchrow(
                f"SELECT * FROM {self._names['discrepancies']} WHERE id = $1", id_
            )
            if row is None:
                return None
            self.discrepancies[id_] = _discrepancy(row)
        return self.discrepancies[id_]

    def put(self, discrepancy: Discrepancy) -> None:
        self.discrepancies[discrepancy.id] = discrepancy
        self._dirty_discrepancies.add(discrepancy.id)

    async def count(self, run_id: str | None, counter: str) -> None:
        """Count for a run until it completes: its figures are final from then on.

        The run's row is read if this batch has not: a heal can come batches after the run's
        other events, and counting only runs already in memory made the figures depend on
        where batches happened to end (live and rebuilt runs disagreed).
        """
        if run_id is None:
            return
        if run_id not in self.runs:
            row = await self._conn.fetchrow(
                f"SELECT * FROM {self._names['reconciliation_runs']} WHERE run_id = $1", run_id
            )
            if row is None:
                return
            self.runs[run_id] = dict(row)
        if self.runs[run_id]["completed_at"] is None:
            self.runs[run_id][counter] += 1

    async def unseen_orders(
        self, run: ev.ReconciliationStarted, cutoff: datetime
    ) -> list[OrderFacts]:
        """Orders of the run's window (before cutoff) that the run did not see at the vendor.

        The run's sightings are deleted afterwards: a completed run sees nothing more.
        """
        await self.flush()
        orders, sightings = self._names["recon_orders"], self._names["recon_sightings"]
        rows = await self._conn.fetch(
            f"""SELECT o.stream_id FROM {orders} o
                WHERE o.vendor = $1 AND o.created_at >= $2 AND o.created_at < $3
                  AND NOT EXISTS (SELECT 1 FROM {sightings} s
                                  WHERE s.run_id = $4 AND s.stream_id = o.stream_id)
                ORDER BY o.created_at, o.stream_id""",
            run.vendor,
            run.window_start,
            cutoff,
            run.run_id,
        )
        await self._conn.execute(f"DELETE FROM {sightings} WHERE run_id = $1", run.run_id)
        streams = [r["stream_id"] for r in rows]
        await self._load([s for s in streams if s not in self.orders], [])
        return [facts for s in streams if (facts := self.orders[s][0]) is not None]

    async def flush(self) -> None:
        orders = [self.orders[s] for s in sorted(self._dirty_orders)]
        if orders:
            await self._write(RECON_ORDERS, [_order_row(f, s) for f, s in orders if f])
        if self._dirty_discrepancies:
            rows = [
                _discrepancy_row(self.discrepancies[i]) for i in sorted(self._dirty_discrepancies)
            ]
            await self._write(DISCREPANCIES, rows)
        if self._sightings:
            seen = sorted(self._sightings)
            # The key is the pair as JSON: unambiguous whatever characters the ids hold.
            keys = [_history.encode(pair).decode() for pair in seen]
            await self._write(SIGHTINGS, [(k, *pair) for k, pair in zip(keys, seen, strict=True)])
        if self.runs:
            await self._write(
                RUNS, [tuple(r[c] for c, _ in RUNS.columns) for r in self.runs.values()]
            )
        self._dirty_orders.clear()
        self._dirty_discrepancies.clear()
        self._sightings.clear()

    async def _write(self, table: Table, rows: list[tuple]) -> None:
        if rows:
            columns = list(zip(*rows, strict=True))
            await self._conn.execute(table.upsert_sql(self._names[table.name]), *columns)


def _order_row(facts: OrderFacts, state: OrderState | None) -> tuple:
    values = list(msgspec.structs.astuple(facts))
    for index in (7, 8):  # webhook_statuses, vendor_order_ids
        values[index] = _history.encode(values[index]).decode()
    return (*values, msgspec.json.encode(state))


def _discrepancy_row(d: Discrepancy) -> tuple:
    values = msgspec.structs.astuple(d)
    return (*values[:15], _history.encode(d.history).decode(), *values[16:])
