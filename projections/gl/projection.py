"""The GL projection: each order's GL state, its postings (moves), and the closed days.

Daily totals and journals are sums over postings (projections/gl/postings.py); storing moves rather
than totals keeps a closed day's figures fixed: nothing posts to it after it closes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from ledger.log import events as ev
from ledger.log.store import RecordedEvent
from ledger.orders.model import evolve
from projections.base import Table
from projections.cache import Rebuilder
from projections.gl.postings import (
    DEFAULT_CHART,
    ClosedDays,
    Entry,
    Posting,
    business_date,
    is_correction,
    occurred_at,
    open_date,
    place,
)
from projections.gl.rebuilding import GLRebuilder
from projections.gl.tables import (
    DAILY_ROWS,
    GL_CLOSED,
    GL_DAILY,
    GL_ORDERS,
    GL_POSTINGS,
    GLOrder,
    closed_days,
    daily_sums_sql,
    order_from_row,
    order_to_row,
)

_STATUS_EVENTS = {
    "OrderRequested",
    "VendorResponseReceived",
    "OrderFulfilled",
    "OrderFailed",
    "OrderRefunded",
}
# Only status changes matter to the GL; other events never move an order between states.
_HANDLED = {*_STATUS_EVENTS, "GLDayClosed"}


class GLProjection:
    name = "gl"
    tables: tuple[Table, ...] = (GL_ORDERS, GL_POSTINGS, GL_CLOSED, GL_DAILY)
    handled = frozenset(_HANDLED)

    def __init__(self, tz: str = "UTC", chart: Mapping[str, Entry | None] = DEFAULT_CHART):
        self.tz, self.chart = ZoneInfo(tz), dict(chart)
        # The zone and the chart shape every row: changing either rebuilds the projection.
        self.revision = hashlib.sha256(f"{tz}:{sorted(self.chart.items())}".encode()).hexdigest()

    async def apply(
        self, conn: asyncpg.Connection, names: Mapping[str, str], events: Sequence[RecordedEvent]
    ) -> None:
        relevant = [e for e in events if e.type in self.handled]
        if not relevant:
            return
        streams = list({e.stream_id for e in relevant if e.stream_id.startswith("order:")})
        orders: dict[str, GLOrder | None] = {
            r["stream_id"]: order_from_row(tuple(r))
            for r in await conn.fetch(GL_ORDERS.select_sql(names["gl_orders"]), streams)
        }
        closed = await closed_days(conn, names)
        postings: list[tuple] = []
        touched: set[str] = set()
        for recorded in relevant:
            event = recorded.decode()
            if isinstance(event, ev.GLDayClosed):
                await self._write(conn, names, orders, touched, postings)
                await self.close(conn, names, event, closed)
            elif recorded.stream_id.startswith("order:") and self.fold(
                orders, recorded, event, closed, postings
            ):
                touched.add(recorded.stream_id)
        await self._write(conn, names, orders, touched, postings)

    def rebuilder(self, names: Mapping[str, str]) -> Rebuilder:
        return GLRebuilder(self, names)

    def fold(
        self,
        orders: dict[str, GLOrder | None],
        recorded: RecordedEvent,
        event: ev.AnyEvent,
        closed: ClosedDays,
        postings: list[tuple],
    ) -> bool:
        """Fold an order's event into `orders`, and add its posting if it moved the order
        between states. False when the event changed nothing. No I/O."""
        stream = recorded.stream_id
        _, origin, before = orders.get(stream) or (stream, None, None)
        after = evolve(before, event, stream, recorded.version, recorded.recorded_at)
        if after is None:
            return False
        moved_from = before.status if before else None
        if after.status != moved_from and recorded.type in _STATUS_EVENTS:
            natural = business_date(occurred_at(event) or recorded.recorded_at, self.tz)
            origin = origin or natural
            posted, adjusts = place(natural, origin, closed, correction=is_correction(event))
            posting = Posting(
                id=f"{stream}:{recorded.version}",
                posting_date=posted,
                currency=after.currency,
                from_state=moved_from,
                to_state=after.status,
                amount_minor=after.amount_minor,
                adjustment_of=adjusts,
            )
            postings.append(
                (
                    *msgspec.structs.astuple(posting),
                    recorded.tx_id,
                    recorded.position,
                    after.client_id,
                )
            )
        orders[stream] = GLOrder(stream, origin, after)
        return True

    async def _write(self, conn, names, orders, touched: set[str], postings: list[tuple]) -> None:
        if touched:
            rows = [order_to_row(orders[s]) for s in sorted(touched)]
            await conn.execute(GL_ORDERS.upsert_sql(names["gl_orders"]), *zip(*rows, strict=True))
        if postings:
            # Only postings new to the table count into the daily sums, so that applying an
            # event twice could never count its move twice.
            columns = ", ".join(name for name, _ in GL_POSTINGS.columns)
            arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(GL_POSTINGS.columns, 1))
            daily = names["gl_daily"]
            await conn.execute(
                f"""WITH moved AS (
                        INSERT INTO {names["gl_postings"]} ({columns})
                        SELECT * FROM unnest({arrays}) ON CONFLICT (id) DO NOTHING
                        RETURNING *)
                    INSERT INTO {daily} {DAILY_ROWS}
                    ON CONFLICT (id) DO UPDATE SET
                        count = {daily}.count + EXCLUDED.count,
                        amount_minor = {daily}.amount_minor + EXCLUDED.amount_minor,
                        adjustment_count = {daily}.adjustment_count + EXCLUDED.adjustment_count,
                        adjustment_minor = {daily}.adjustment_minor + EXCLUDED.adjustment_minor""",
                *zip(*postings, strict=True),
            )
        touched.clear()
        postings.clear()

    async def close(self, conn, names, event: ev.GLDayClosed, closed: ClosedDays) -> None:
        """Mark the day closed; moves applied after its totals were read move on past it: those
        dated on it, and those dated on an open day before it (after the closed day before),
        since the closing balance sums every earlier day."""
        day = event.business_date
        # The closed day before it, whichever order days were closed in.
        after = max((d for d in closed.days if d < day), default=date.min)
        closed.add(day)
        row = (day, event.upto_tx_id, event.upto_position, event.closed_at)
        await conn.execute(GL_CLOSED.upsert_sql(names["gl_closed_days"]), *([v] for v in row))
        moved_to = open_date(day, closed)
        postings = names["gl_postings"]
        changed = await conn.fetchval(
            f"""WITH late AS (
                    SELECT id, posting_date FROM {postings}
                    WHERE posting_date > $5 AND posting_date <= $1
                      AND (tx_id, position) > ($3, $4)),
                moved AS (
                    UPDATE {postings} p
                    SET posting_date = $2,
                        adjustment_of = coalesce(p.adjustment_of, late.posting_date)
                    FROM late WHERE p.id = late.id RETURNING late.posting_date)
                SELECT array_agg(DISTINCT posting_date) FROM moved""",
            day,
            moved_to,
            event.upto_tx_id,
            event.upto_position,
            after,
        )
        if changed:
            # Those days' sums change; a close is once a day, so they are summed afresh from
            # their postings rather than adjusted move by move.
            days = [*changed, moved_to]
            daily = names["gl_daily"]
            await conn.execute(f"DELETE FROM {daily} WHERE posting_date = ANY($1::date[])", days)
            await conn.execute(daily_sums_sql(names, "posting_date = ANY($1::date[])"), days)
