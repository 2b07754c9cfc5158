"""The discrepancy projection: our orders as matching sees them, discrepancies, and run counts.

The fold is projections.discrepancies.matching (pure); this module loads the rows a batch touches,
applies it, and writes them back. Events are applied strictly in log order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import msgspec

from ledger.log import events as ev
from ledger.log.store import RecordedEvent
from ledger.orders.model import evolve_recorded
from projections.base import Table
from projections.cache import Rebuilder
from projections.discrepancies.matching import (
    Discrepancy,
    OrderFacts,
    discrepancy_id,
    match,
    missing_at_vendor,
    own_vendor_order,
    resolve,
    settle,
    touch,
)
from projections.discrepancies.rebuilding import DiscrepancyRebuilder
from projections.discrepancies.tables import DISCREPANCIES, RECON_ORDERS, RUNS, SIGHTINGS, Rows

# An order younger than this at the end of a window may not be listed by the vendor yet;
# it is judged by the next run instead of being reported missing.
MISSING_GRACE = timedelta(minutes=10)
_ORDER_EVENTS = {t.__name__ for t in ev.EVENT_TYPES} - {
    "ReconciliationStarted",
    "ReconciliationPageRecorded",
    "ReconciliationCompleted",
    "GLDayClosed",
    "BulkBatchAccepted",
}
_HANDLED = _ORDER_EVENTS | {"ReconciliationStarted", "ReconciliationCompleted"}
# The events the fold looks into. Any other only evolves its order's state, which decodes it
# there (or not at all, when it changes nothing but the version): most of a log is those.
_LOOKED_INTO = frozenset(
    {
        "ReconciliationStarted",
        "ReconciliationCompleted",
        "VendorRecordObserved",
        "DiscrepancyResolved",
        "WebhookReceived",
    }
)


def relevant_events(events: Sequence[RecordedEvent]) -> list[tuple[RecordedEvent, Any]]:
    """The events this projection folds, each with its payload if the fold looks into it."""
    return [
        (e, e.decode() if e.type in _LOOKED_INTO else None) for e in events if e.type in _HANDLED
    ]


class ReconciliationProjection:
    name = "discrepancies"
    tables: tuple[Table, ...] = (RECON_ORDERS, DISCREPANCIES, RUNS, SIGHTINGS)
    revision = 0

    async def apply(
        self, conn: asyncpg.Connection, names: Mapping[str, str], events: Sequence[RecordedEvent]
    ) -> None:
        relevant = relevant_events(events)
        if not relevant:
            return
        rows = Rows(conn, names)
        await rows.prefetch(relevant)
        for recorded, event in relevant:
            await self._fold(rows, recorded, event)
        await rows.flush()

    def rebuilder(self, names: Mapping[str, str]) -> Rebuilder:
        return DiscrepancyRebuilder(self._fold, relevant_events, names)

    async def _fold(self, rows: Rows, recorded: RecordedEvent, event: ev.AnyEvent | None) -> None:
        at = recorded.recorded_at
        match event:
            case None if recorded.stream_id.startswith("order:"):
                await self._evolve_order(rows, recorded, at)
            case ev.ReconciliationStarted():
                rows.runs[event.run_id] = rows.new_run(event)
            case ev.ReconciliationCompleted():
                await self._complete(rows, event, at)
            case ev.VendorRecordObserved():
                await self._observe(rows, recorded.stream_id, event, at)
            case ev.DiscrepancyResolved():
                current = await rows.discrepancy(event.discrepancy_id)
                if current is not None:
                    what = f"{event.action} by {event.actor}: {event.note}"
                    rows.put(resolve(current, at, what))
            case ev.WebhookReceived() if recorded.stream_id.startswith("order:"):
                facts, state = rows.orders.get(recorded.stream_id, (None, None))
                if facts is not None and event.reported_status:
                    statuses = (*facts.webhook_statuses, event.reported_status)
                    rows.set_order(msgspec.structs.replace(facts, webhook_statuses=statuses), state)
            case _ if event is not None and recorded.stream_id.startswith("order:"):
                await self._evolve_order(rows, recorded, at)

    async def _evolve_order(self, rows: Rows, recorded: RecordedEvent, at) -> None:
        facts, state = rows.orders.get(recorded.stream_id, (None, None))
        state = evolve_recorded(state, recorded)
        if state is None:
            return
        if facts is None:
            facts = OrderFacts(
                stream_id=state.stream_id,
                vendor=state.vendor,
                reference=state.vendor_reference,
                status=state.status,
                amount_minor=state.amount_minor,
                currency=state.currency,
                created_at=state.created_at,
                client_id=state.client_id,
            )
        if state.status != facts.status:
            facts = msgspec.structs.replace(facts, status=state.status)
            heal_id = discrepancy_id("status_mismatch", facts.vendor, facts.stream_id)
            healed = rows.cached_discrepancy(heal_id)
            if healed and healed.state == "open" and healed.vendor_status == state.status:
                rows.put(settle(healed, "auto_resolved", at, f"our order became {state.status}"))
                await rows.count(healed.last_seen_run, "auto_resolved")
        rows.set_order(facts, state)

    async def _observe(self, rows: Rows, stream_id: str, record, at) -> None:
        order, state = (
            rows.orders.get(stream_id, (None, None))
            if stream_id.startswith("order:")
            else (None, None)
        )
        run = rows.runs.get(record.run_id)
        if run is not None:
            run["records_seen"] += 1
            run["matched"] += order is not None
        ours = state.vendor_order_id if state is not None else None
        seen, findings, missed = match(order, record, at, ours)
        if seen is not None:
            rows.set_order(seen, rows.orders[stream_id][1])
            rows.sighted(record.run_id, stream_id)
            gone = rows.cached_discrepancy(
                discrepancy_id("missing_at_vendor", seen.vendor, stream_id)
            )
            if gone is not None and gone.state == "open":
                rows.put(
                    settle(gone, "auto_resolved", at, f"seen at the vendor in {record.run_id}")
                )
            agreed = rows.cached_discrepancy(
                discrepancy_id("status_mismatch", seen.vendor, stream_id)
            )
            if (
                agreed is not None
                and agreed.state == "open"
                and record.vendor_order_id == own_vendor_order(seen, ours)
                and record.status == seen.status
            ):
                what = f"the vendor's record became {record.status} in {record.run_id}"
                agreed = msgspec.structs.replace(agreed, vendor_status=record.status)
                rows.put(settle(agreed, "auto_resolved", at, what))
                await rows.count(agreed.last_seen_run, "auto_resolved")
        if missed:
            await rows.count(record.run_id, "missed_webhooks")
        for finding in findings:
            await self._record_finding(rows, finding, record.run_id)

    async def _record_finding(self, rows: Rows, finding: Discrepancy, run_id: str) -> None:
        current = await rows.discrepancy(finding.id)
        if current is None or current.last_seen_run != run_id:
            await rows.count(run_id, finding.kind)  # once per run, however often it is seen
        rows.put(touch(current, finding, run_id, f"{finding.kind} seen"))

    async def _complete(self, rows: Rows, event: ev.ReconciliationCompleted, at) -> None:
        run = rows.runs.get(event.run_id)
        if run is None:
            return
        started = ev.ReconciliationStarted(
            run_id=event.run_id,
            vendor=run["vendor"],
            window_start=run["window_start"],
            window_end=run["window_end"],
            started_at=run["started_at"],
        )
        for facts in await rows.unseen_orders(started, started.window_end - MISSING_GRACE):
            if facts.status == "failed":
                continue  # a refused order is not expected at the vendor
            await self._record_finding(rows, missing_at_vendor(facts, started, at), event.run_id)
        run.update(completed_at=at, pages=event.pages)  # last: its findings still count
